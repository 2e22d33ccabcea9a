// Command generate is `gqlgen generate` for headline, run by the root
// package's go:generate directive: gqlgen's own generation (api.Generate,
// gqlgen.yml as it is) followed by a rewrite of graph/generated.go that
// swaps a few calls into gqlgen's graphql package for those of
// graph/internal/gqlgenrt, which do less for what this schema needs.
//
// gqlgen v0.17.98 marshals every list of objects, enums or interfaces with
// graphql.MarshalSliceConcurrently, which starts a goroutine per element
// whenever the list has more than one, and no setting turns that off
// (exec.worker_limit only bounds them). The goroutines pay off where an
// element's fields wait on resolvers together (dataloaders); a User is plain
// struct fields and never waits. So where gqlgen's model of the schema says
// that no element can reach a resolver, a field method taking a context, a
// batch resolver or a directive, the call becomes
// gqlgenrt.MarshalSliceSequentially: the same arguments and answers, run in
// the request's goroutine. Two smaller cuts go with it, per object and per
// field: an object without concurrent fields no longer builds the
// DeferredGroup only such fields fill, and scalar fields' FieldContexts
// share their Child function instead of allocating one each time.
//
// graphql.ResolveField then costs every field of every user a FieldContext,
// a context, closures, a boxed value and a pass through the field
// interceptors, to read a struct field. For a field that does only that (a
// scalar, no resolver, method, argument or directive), the rewrite puts
// the field's marshaller called on the struct field before it, taken when
// gqlgenrt.DirectPlainFields says no interceptor wants plain fields.
//
// The rewrite checks what it relies on and fails rather than generate
// something else: each function it means to change must be there and hold
// what gqlgen v0.17.98 writes, and the result must be valid Go. A gqlgen
// upgrade that changes them stops `go generate ./...` with a message naming
// the function; then adapt the rule, or drop it (each is a few lines in
// rewrite and plan, independent of the others) if gqlgen no longer needs
// it. gqlgenrt's tests compare each replacement with the gqlgen function it
// replaces, so a change of gqlgen's behaviour fails `go test` as well.
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen/config"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

func run() error {
	// As `gqlgen generate` without flags: gqlgen.yml from the working
	// directory (the module root, where generate.go is) or a parent.
	cfg, err := config.LoadConfigFromDefaultLocations()
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("no gqlgen.yml: run from the module root (go generate ./...)")
	}
	if err != nil {
		return err
	}
	if cfg.Exec.Layout != config.ExecLayoutSingleFile {
		return fmt.Errorf("exec.layout %q: the list rewrite reads one generated file, use single-file", cfg.Exec.Layout)
	}
	planner := &planPlugin{}
	if err := api.Generate(cfg, api.AddPlugin(planner)); err != nil {
		return err
	}
	return rewriteFile(cfg.Exec.Filename, planner.plan)
}
