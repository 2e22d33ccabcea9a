package main

import (
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"iter"
	"maps"
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
	src      []byte
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
//   - in the function of each field of p.plainFields, before its
//     graphql.ResolveField, the field's value marshalled directly when
//     gqlgenrt.DirectPlainFields says so;
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
	r := &rewriter{src: src, fset: fset}
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
		if p.plainFields[name] {
			r.directPlainField(fn)
		}
		fieldContexts += r.replaceCalls(fn, "NewScalarFieldContext", "gqlgenrt.NewScalarFieldContext")
	}
	for _, planned := range []iter.Seq[string]{maps.Keys(p.lists), maps.Keys(p.plainObjects), maps.Keys(p.plainFields)} {
		for name := range planned {
			if !seen[name] {
				r.problem("gqlgen wrote no %s", name)
			}
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

// source is n as it is written in the file.
func (r *rewriter) source(n ast.Node) string {
	return string(r.src[r.offset(n.Pos()):r.offset(n.End())])
}

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

// directPlainField puts, at the top of a plain field's function, the
// direct way: its marshaller called on the struct field that gqlgen's
// resolver closure returns. gqlgen v0.17.98 writes the function as
//
//	return graphql.ResolveField(ctx, ec.OperationContext, field,
//		func(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) { … },
//		func(ctx context.Context) (any, error) { return obj.Name, nil },
//		nil,
//		func(ctx context.Context, selections ast.SelectionSet, v string) graphql.Marshaler {
//			return ec.marshalNString2string(ctx, selections, v)
//		},
//		true, true)
func (r *rewriter) directPlainField(fn *ast.FuncDecl) {
	name := fn.Name.Name
	call := resolveFieldCall(fn)
	if call == nil || len(call.Args) != 9 {
		r.problem("%s is not one return of graphql.ResolveField with 9 arguments", name)
		return
	}
	value, ok := returnsOf(call.Args[4])
	if !ok || len(value) != 2 || !isIdent(value[1], "nil") || !isSelectorOf(value[0], "obj") {
		r.problem("%s's resolver does not return obj.<field>, nil", name)
		return
	}
	marshal, ok := returnsOf(call.Args[6])
	if !ok || len(marshal) != 1 {
		r.problem("%s's marshaller is not one return of a call", name)
		return
	}
	m, ok := marshal[0].(*ast.CallExpr)
	if !ok || len(m.Args) != 3 || !isIdent(m.Args[0], "ctx") || !isIdent(m.Args[1], "selections") || !isIdent(m.Args[2], "v") {
		r.problem("%s's marshaller does not call a function of (ctx, selections, v)", name)
		return
	}
	text := fmt.Sprintf("\n\tif gqlgenrt.DirectPlainFields(ec.Resolvers) {\n\t\treturn %s(ctx, field.Selections, %s)\n\t}",
		r.source(m.Fun), r.source(value[0]))
	at := r.offset(fn.Body.Lbrace) + 1
	r.edits = append(r.edits, edit{at, at, text})
}

// resolveFieldCall is the call of graphql.ResolveField that fn's body is,
// as its only statement, or nil.
func resolveFieldCall(fn *ast.FuncDecl) *ast.CallExpr {
	if len(fn.Body.List) != 1 {
		return nil
	}
	ret, ok := fn.Body.List[0].(*ast.ReturnStmt)
	if !ok || len(ret.Results) != 1 {
		return nil
	}
	call, ok := ret.Results[0].(*ast.CallExpr)
	if !ok || !isGraphQL(call.Fun, "ResolveField") {
		return nil
	}
	return call
}

// returnsOf is what a function literal whose body is one return statement
// returns.
func returnsOf(e ast.Expr) ([]ast.Expr, bool) {
	lit, ok := e.(*ast.FuncLit)
	if !ok || len(lit.Body.List) != 1 {
		return nil, false
	}
	ret, ok := lit.Body.List[0].(*ast.ReturnStmt)
	if !ok {
		return nil, false
	}
	return ret.Results, true
}

func isSelectorOf(e ast.Expr, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	return ok && isIdent(sel.X, name)
}
