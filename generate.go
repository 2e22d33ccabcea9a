package headline

// gqlgen resolves the paths in gqlgen.yml from the directory it runs in, so
// the directive lives here, at the root, beside gqlgen.yml.
//go:generate go tool gqlgen generate
