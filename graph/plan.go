package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/headline/headline"
	"github.com/headline/headline/dataloaders"
)

// planLookups is an operation middleware: before any resolver runs, it reads
// the user ids the operation's root fields will look up — me, every user(id:)
// and users(ids:), aliases, fragments and @skip/@include included — and
// hands them to the request's loaders as one batch. Resolvers then find
// their users already loading, and a query costs one batch however its
// fields are scheduled. Anything it cannot read (a bad id) is left to the
// resolver, which reports it.
func planLookups(maxIDs int) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		if oc.Operation != nil && oc.Operation.Operation == ast.Query {
			if ids := plannedIDs(ctx, oc, maxIDs); len(ids) > 0 {
				dataloaders.For(ctx).Plan(ctx, ids)
			}
		}
		return next(ctx)
	}
}

func plannedIDs(ctx context.Context, oc *graphql.OperationContext, maxIDs int) []headline.Lookup {
	var ids []headline.Lookup
	for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, []string{"Query"}) {
		args := f.ArgumentMap(oc.Variables)
		switch f.Name {
		case "me":
			if v := headline.ViewerFromContext(ctx); v.Err == nil {
				ids = append(ids, headline.Lookup{ID: v.UserID, Status: true})
			}
		case "user":
			if s, ok := args["id"].(string); ok {
				if id, err := headline.ParseUserID("id", s); err == nil {
					ids = append(ids, headline.Lookup{ID: id})
				}
			}
		case "users":
			// The resolver refuses the whole list for one bad id, so
			// such a list plans nothing.
			list, _ := args["ids"].([]any)
			if len(list) > maxIDs {
				continue
			}
			keys := make([]headline.Lookup, 0, len(list))
			for _, v := range list {
				s, _ := v.(string)
				id, err := headline.ParseUserID("ids", s)
				if err != nil {
					keys = nil
					break
				}
				keys = append(keys, headline.Lookup{ID: id})
			}
			ids = append(ids, keys...)
		}
	}
	return ids
}
