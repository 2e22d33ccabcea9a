package main

import (
	"go/ast"
	"go/token"
)

// emptyDeferredGroup declares the object marshaller fn's DeferredGroup
// empty (`var deferred graphql.DeferredGroup`) instead of making it with
// graphql.NewDeferredGroup(ctx). That is the same as long as nothing adds
// to it: gqlgen v0.17.98 writes
//
//	deferred := graphql.NewDeferredGroup(ctx)
//	… &deferred only in out.ResolveConcurrently, for concurrent fields …
//	if n := len(deferred.Defers); n > 0 { …; ec.ProcessDeferredGroup(deferred) }
//
// so in an object without concurrent fields every use of deferred must be
// one of those three; any other makes a problem.
func (r *rewriter) emptyDeferredGroup(fn *ast.FuncDecl) {
	var def *ast.AssignStmt
	uses, known := 0, 0
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Ident:
			if n.Name == "deferred" {
				uses++
			}
		case *ast.AssignStmt:
			if isDeferredGroupDef(n) {
				def = n
				known++
			}
		case *ast.SelectorExpr:
			if isIdent(n.X, "deferred") && n.Sel.Name == "Defers" {
				known++
			}
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "ProcessDeferredGroup" &&
				len(n.Args) == 1 && isIdent(n.Args[0], "deferred") {
				known++
			}
		}
		return true
	})
	switch {
	case def == nil:
		r.problem("%s does not make its DeferredGroup with deferred := graphql.NewDeferredGroup(ctx)", fn.Name.Name)
	case uses != known:
		r.problem("%s uses its DeferredGroup in %d places other than len(deferred.Defers) and ec.ProcessDeferredGroup(deferred)", fn.Name.Name, uses-known)
	default:
		r.replace(def, "var deferred graphql.DeferredGroup")
	}
}

// isDeferredGroupDef matches `deferred := graphql.NewDeferredGroup(ctx)`.
func isDeferredGroupDef(s *ast.AssignStmt) bool {
	if s.Tok != token.DEFINE || len(s.Lhs) != 1 || len(s.Rhs) != 1 || !isIdent(s.Lhs[0], "deferred") {
		return false
	}
	call, ok := s.Rhs[0].(*ast.CallExpr)
	return ok && isGraphQL(call.Fun, "NewDeferredGroup") && len(call.Args) == 1 && isIdent(call.Args[0], "ctx")
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}
