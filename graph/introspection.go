package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// introspectionOff refuses, with INTROSPECTION off, an operation that asks
// for the schema: __schema, __type or federation's _service. gqlgen would
// run it and fail the field with a plain error, which the error presenter
// can only take for an internal one: INTERNAL_SERVER_ERROR to the client
// and an ERROR line in the log for every such request. Refused here it is a
// request error, as Apollo Server answers it.
type introspectionOff struct{}

var (
	_ graphql.HandlerExtension        = introspectionOff{}
	_ graphql.OperationContextMutator = introspectionOff{}
)

func (introspectionOff) ExtensionName() string                   { return "IntrospectionOff" }
func (introspectionOff) Validate(graphql.ExecutableSchema) error { return nil }

func (introspectionOff) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if name, ok := schemaField(oc.Doc, oc.Operation.SelectionSet, map[string]bool{}); ok {
		err := gqlerror.Errorf("introspection is disabled on this server, but the operation asks for %s", name)
		errcode.Set(err, errcode.ValidationFailed)
		return err
	}
	return nil
}

// schemaField returns the first root field of set, through fragments, that
// asks for the schema. Only root fields can: __schema, __type and _service
// are fields of Query alone.
func schemaField(doc *ast.QueryDocument, set ast.SelectionSet, seen map[string]bool) (string, bool) {
	for _, sel := range set {
		var sub ast.SelectionSet
		switch sel := sel.(type) {
		case *ast.Field:
			switch sel.Name {
			case "__schema", "__type", "_service":
				return sel.Name, true
			}
			continue
		case *ast.InlineFragment:
			sub = sel.SelectionSet
		case *ast.FragmentSpread:
			if seen[sel.Name] {
				continue
			}
			seen[sel.Name] = true
			if def := doc.Fragments.ForName(sel.Name); def != nil {
				sub = def.SelectionSet
			}
		}
		if name, ok := schemaField(doc, sub, seen); ok {
			return name, true
		}
	}
	return "", false
}
