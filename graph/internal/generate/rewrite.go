package main

import (
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strings"
)

// runtimePkg holds the replacements of gqlgen's graphql functions.
const runtimePkg = "github.com/headline/headline/graph/internal/gqlgenrt"

func rewriteFile(filename string, p plan) error {
	src, err := os.ReadFile(filename)
	if err != nil {
		return err
	}
	out, err := rewrite(src, p)
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

// rewriter collects the edits of one file, and what it found that gqlgen
// v0.17.98 would not have written.
type rewriter struct {
	fset     *token.FileSet
	edits    []edit
	problems []string
}

// rewrite returns gqlgen's generated source with, as p plans:
//   - graphql.MarshalSliceConcurrently replaced by
//     gqlgenrt.MarshalSliceSequentially in each list marshaller of p.lists;
//   - the DeferredGroup of each object marshaller of p.plainObjects
//     declared empty instead of made by graphql.NewDeferredGroup, which
//     computes the object's path and allocates three times;
//   - graphql.NewScalarFieldContext replaced by gqlgenrt's everywhere;
//
// and the import these need. Everything else stays byte for byte as gqlgen
// wrote it. It fails, naming what it found, where gqlgen's output is not
// as it expects, rather than guess.
func rewrite(src []byte, p plan) ([]byte, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "", src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	r := &rewriter{fset: fset}
	seen := map[string]bool{}
	fieldContexts := 0
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Recv == nil || fn.Body == nil {
			continue
		}
		name := fn.Name.Name
		seen[name] = true
		if elem, ok := p.lists[name]; ok {
			if n := r.replaceCalls(fn, "MarshalSliceConcurrently", "gqlgenrt.MarshalSliceSequentially"); n != 1 {
				r.problem("%s (a list of %s) has %d calls of graphql.MarshalSliceConcurrently, want 1", name, elem, n)
			}
		}
		if p.plainObjects[name] {
			r.emptyDeferredGroup(fn)
		}
		fieldContexts += r.replaceCalls(fn, "NewScalarFieldContext", "gqlgenrt.NewScalarFieldContext")
	}
	for name := range p.lists {
		if !seen[name] {
			r.problem("gqlgen wrote no %s", name)
		}
	}
	for name := range p.plainObjects {
		if !seen[name] {
			r.problem("gqlgen wrote no %s", name)
		}
	}
	if fieldContexts == 0 {
		r.problem("no call of graphql.NewScalarFieldContext")
	}
	r.addImport(file)
	if len(r.problems) > 0 {
		slices.Sort(r.problems)
		return nil, fmt.Errorf("gqlgen's output is not as graph/internal/generate expects "+
			"(after a gqlgen upgrade: adapt or drop the rule, see that command's doc):\n\t%s", strings.Join(r.problems, "\n\t"))
	}
	out, err := format.Source(apply(src, r.edits))
	if err != nil {
		return nil, fmt.Errorf("the rewritten source is not valid Go: %w", err)
	}
	return out, nil
}

func (r *rewriter) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *rewriter) offset(p token.Pos) int { return r.fset.Position(p).Offset }

func (r *rewriter) replace(n ast.Node, text string) {
	r.edits = append(r.edits, edit{r.offset(n.Pos()), r.offset(n.End()), text})
}

// replaceCalls makes fn call replacement instead of graphql.<name>, and
// says how many calls it changed.
func (r *rewriter) replaceCalls(fn *ast.FuncDecl, name, replacement string) int {
	n := 0
	ast.Inspect(fn.Body, func(node ast.Node) bool {
		if call, ok := node.(*ast.CallExpr); ok && isGraphQL(call.Fun, name) {
			r.replace(call.Fun, replacement)
			n++
		}
		return true
	})
	return n
}

func isGraphQL(expr ast.Expr, name string) bool {
	sel, ok := expr.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "graphql"
}
