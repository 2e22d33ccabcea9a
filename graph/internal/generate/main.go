// Command generate is `gqlgen generate` for headline, run by the root
// package's go:generate directive: gqlgen's own generation (api.Generate,
// gqlgen.yml as it is) followed by one rewrite of graph/generated.go.
//
// gqlgen v0.17.98 marshals every list of objects, enums or interfaces with
// graphql.MarshalSliceConcurrently, which starts a goroutine per element
// whenever the list has more than one, and no setting turns that off
// (exec.worker_limit only bounds them). The goroutines pay off where an
// element's fields wait on resolvers together (dataloaders); a User is plain
// struct fields and never waits. So where gqlgen's model of the schema says
// that no element can reach a resolver, a field method taking a context, a
// batch resolver or a directive, the call becomes sequential.MarshalSlice: the
// same function with the same arguments, run in the request's goroutine.
//
// The rewrite checks what it relies on and fails instead of generating
// something else: each list it means to change must hold exactly one call of
// graphql.MarshalSliceConcurrently, and the result must be valid Go. A gqlgen
// upgrade that changes those calls stops `go generate ./...` with a message.
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
	lists := &listPlugin{}
	if err := api.Generate(cfg, api.AddPlugin(lists)); err != nil {
		return err
	}
	return rewriteFile(cfg.Exec.Filename, lists.sequential)
}
