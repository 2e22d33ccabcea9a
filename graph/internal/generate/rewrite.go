package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strings"
)

// runtimePkg holds sequential.MarshalSlice, which replaces
// graphql.MarshalSliceConcurrently.
const runtimePkg = "github.com/headline/headline/graph/internal/sequential"

func rewriteFile(filename string, lists map[string]string) error {
	src, err := os.ReadFile(filename)
	if err != nil {
		return err
	}
	out, err := rewrite(src, lists)
	if err != nil {
		return fmt.Errorf("%s: %w", filename, err)
	}
	return os.WriteFile(filename, out, 0o644)
}

// edit replaces src[start:end].
type edit struct {
	start, end int
	text       string
}

// rewrite returns gqlgen's generated source with graphql.MarshalSliceConcurrently
// replaced by sequential.MarshalSlice in each marshaller named in lists, and
// the import that needs. Everything else is left byte for byte as gqlgen
// wrote it.
func rewrite(src []byte, lists map[string]string) ([]byte, error) {
	if len(lists) == 0 {
		return src, nil
	}
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "", src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	offset := func(p token.Pos) int { return fset.Position(p).Offset }
	var edits []edit
	found := map[string]int{}
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Recv == nil || fn.Body == nil {
			continue
		}
		if _, want := lists[fn.Name.Name]; !want {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok && isConcurrentMarshal(call.Fun) {
				found[fn.Name.Name]++
				edits = append(edits, edit{offset(call.Fun.Pos()), offset(call.Fun.End()), "sequential.MarshalSlice"})
			}
			return true
		})
	}
	if err := checkFound(lists, found); err != nil {
		return nil, err
	}
	imp, err := importEdit(file, offset)
	if err != nil {
		return nil, err
	}
	edits = append(edits, imp)
	out, err := format.Source(apply(src, edits))
	if err != nil {
		return nil, fmt.Errorf("the rewritten source is not valid Go: %w", err)
	}
	return out, nil
}

func isConcurrentMarshal(fun ast.Expr) bool {
	sel, ok := fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "MarshalSliceConcurrently" {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "graphql"
}

// checkFound fails unless each list marshaller holds exactly one call: what
// gqlgen v0.17.98 writes. Anything else means gqlgen changed how it writes
// lists, and the rewrite must be looked at again rather than guess.
func checkFound(lists map[string]string, found map[string]int) error {
	var bad []string
	for name, elem := range lists {
		if n := found[name]; n != 1 {
			bad = append(bad, fmt.Sprintf("%s (a list of %s) has %d calls of graphql.MarshalSliceConcurrently, want 1", name, elem, n))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	return fmt.Errorf("gqlgen's list marshallers are not as this rewrite expects (graph/internal/generate):\n\t%s", strings.Join(bad, "\n\t"))
}

// importEdit adds runtimePkg to the parenthesised import block gqlgen
// writes; format.Source then sorts it into its group.
func importEdit(file *ast.File, offset func(token.Pos) int) (edit, error) {
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.IMPORT || !gen.Rparen.IsValid() {
			continue
		}
		for _, spec := range gen.Specs {
			if s := spec.(*ast.ImportSpec); s.Path.Value == `"`+runtimePkg+`"` {
				return edit{}, fmt.Errorf("already imports %s: not gqlgen's output", runtimePkg)
			}
		}
		at := offset(gen.Rparen)
		return edit{at, at, "\t\"" + runtimePkg + "\"\n"}, nil
	}
	return edit{}, fmt.Errorf("no parenthesised import block to add %s to", runtimePkg)
}

// apply makes edits, which must not overlap, on a copy of src.
func apply(src []byte, edits []edit) []byte {
	slices.SortFunc(edits, func(a, b edit) int { return a.start - b.start })
	var out bytes.Buffer
	last := 0
	for _, e := range edits {
		out.Write(src[last:e.start])
		out.WriteString(e.text)
		last = e.end
	}
	out.Write(src[last:])
	return out.Bytes()
}
