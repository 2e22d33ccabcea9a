// Package gqlgenrt holds drop-in replacements for functions of gqlgen's
// graphql package (v0.17.98) that graph/generated.go calls: same
// signatures, same results, less work for what headline's schema needs.
// graph/internal/generate puts them in place after gqlgen generates; each is
// tested against the gqlgen function it replaces, so an upgrade that changes
// gqlgen's behaviour fails here rather than drifting.
package gqlgenrt
