package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/headline/headline"
	"github.com/headline/headline/dataloaders"
)

// planLookups is an operation middleware: before any resolver of a query
// runs, it reads the lookups of each of its root fields in userFields —
// aliases, fragments and @skip/@include as gqlgen will execute them —
// loads them there and then as one batch, and leaves each field's results
// in the context for its resolver. A query costs one batch however its
// fields are scheduled, and its resolvers wait on nothing. Loading here
// rather than on a goroutine of its own costs no latency (the resolvers
// could only wait for the batch) and saves the goroutine. A field whose
// arguments or viewer refuse it is planned with the refusal, which its
// resolver answers.
func planLookups(maxIDs int) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		if oc.Operation == nil || oc.Operation.Operation != ast.Query {
			return next(ctx)
		}
		p := readPlan(ctx, oc, maxIDs)
		if p == nil {
			return next(ctx)
		}
		p.load(ctx)
		return next(context.WithValue(ctx, planKey{}, p))
	}
}

// plan is what planLookups read of an operation and loaded for it.
type plan struct {
	fields []plannedField
	keys   []dataloaders.Key // every field's keys, field after field
}

// plannedField is one root field in userFields, named by its response
// name: fields that share one are merged by gqlgen and, as validation
// demands, have the same arguments.
type plannedField struct {
	alias, name string
	err         error // the field's answer, when it looks nothing up
	n           int   // its keys: plan.keys[offset : offset+n]
	res         dataloaders.Results
}

type planKey struct{}

// readPlan reads each root field's lookups, each id parsed here once; nil
// when the operation has no field in userFields.
func readPlan(ctx context.Context, oc *graphql.OperationContext, maxIDs int) *plan {
	var p *plan
	viewer := headline.ViewerFromContext(ctx)
	// The executor collects the root fields with the same arguments, and
	// the operation context caches the result for it.
	for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, queryImplementors) {
		uf, ok := userFields[f.Name]
		if !ok {
			continue
		}
		keys, bound, err := uf.lookups(operationArgs(f.Field, oc.Variables), viewer, maxIDs)
		if !bound {
			continue // gqlgen fails the field before its resolver
		}
		if p == nil {
			p = &plan{}
		}
		p.fields = append(p.fields, plannedField{alias: f.Alias, name: f.Name, err: err, n: len(keys)})
		if p.keys == nil {
			p.keys = keys
		} else {
			p.keys = append(p.keys, keys...)
		}
	}
	return p
}

// load looks up every planned key as one batch and hands each field its
// share of the results.
func (p *plan) load(ctx context.Context) {
	if len(p.keys) == 0 {
		return
	}
	res := dataloaders.For(ctx).Plan(ctx, p.keys)
	off := 0
	for i := range p.fields {
		f := &p.fields[i]
		end := off + f.n
		f.res = res.Slice(off, end)
		off = end
	}
}

// planned returns the plan's entry for the field ctx resolves, when a plan
// covers it.
func planned(ctx context.Context, name string) (*plannedField, bool) {
	p, ok := ctx.Value(planKey{}).(*plan)
	if !ok {
		return nil, false
	}
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return nil, false
	}
	for i := range p.fields {
		if f := &p.fields[i]; f.alias == fc.Field.Alias && f.name == name {
			return f, true
		}
	}
	return nil, false
}

// lookUp answers the resolver of the userFields entry name: with the
// plan's results for its field, or, when no plan covers it, by reading its
// lookups from args (called only then) and loading them through the
// request's loaders. res has one entry per lookup.
func (r *Resolver) lookUp(ctx context.Context, name string, args func() fieldArgs) (res dataloaders.Results, err error) {
	if f, ok := planned(ctx, name); ok {
		return f.res, f.err
	}
	keys, _, err := userFields[name].lookups(args(), headline.ViewerFromContext(ctx), r.MaxIDs)
	if err != nil {
		return dataloaders.Results{}, err
	}
	return dataloaders.For(ctx).Load(ctx, keys), nil
}

// lookUpOne is lookUp for a field that makes one lookup; disabled reports,
// when it asked for the account's status, that the account is disabled.
func (r *Resolver) lookUpOne(ctx context.Context, name string, args func() fieldArgs) (u *headline.User, disabled bool, err error) {
	res, err := r.lookUp(ctx, name, args)
	if err != nil {
		return nil, false, err
	}
	return res.Users[0], res.IsDisabled(0), res.Errs[0]
}

// addListErrors reports the errors of a list's entries at their own paths
// (users.3), so one failed entry does not fail the whole list.
func addListErrors(ctx context.Context, errs []error) {
	for i, err := range errs {
		if err != nil {
			graphql.AddError(graphql.WithPathContext(ctx, graphql.NewPathWithIndex(i)), err)
		}
	}
}
