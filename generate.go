package headline

// gqlgen resolves the paths in gqlgen.yml from the directory it runs in, so
// the directive lives here, at the root, beside gqlgen.yml. It runs gqlgen
// (api.Generate) through graph/internal/generate, which then rewrites a few
// calls in graph/generated.go: lists whose elements never wait on a resolver
// marshal in the request's goroutine instead of one goroutine per element.
// See that command's doc.
//go:generate go run ./graph/internal/generate
