package graph

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"

	"github.com/headline/headline"
	"github.com/headline/headline/dataloaders"
)

// entityType is the one type headline resolves as an Apollo Federation
// entity (`type User @key(fields: "id")`).
const entityType = "User"

// entitiesLookups reads _entities(representations:) as the planner and
// FindManyUserByIDs see it: one lookup for each User representation whose
// id parses, in order. A representation of another type, or whose id does
// not parse, looks nothing up; its entity gets its own error. The whole
// field is refused when it has more representations than maxIDs, duplicates
// included, as users(ids:) counts its ids. bound is false when gqlgen will
// fail every User representation before FindManyUserByIDs: one that is not
// an object, or an id that is not a scalar, or a first User representation
// without an id (gqlgen picks the resolver from the first).
func entitiesLookups(a fieldArgs, _ headline.Viewer, maxIDs int) ([]dataloaders.Key, bool, error) {
	reps, ok := a.representations("representations")
	if !ok {
		return nil, false, nil
	}
	if len(reps) > maxIDs {
		return nil, true, headline.BadInput("representations",
			"representations: at most %d entities may be asked for at once, got %d", maxIDs, len(reps))
	}
	var keys []dataloaders.Key
	first := true
	for _, rep := range reps {
		if t, _ := rep["__typename"].(string); t != entityType {
			continue
		}
		v, present := rep["id"]
		if first && (!present || v == nil) {
			return nil, false, nil
		}
		first = false
		s, err := graphql.UnmarshalID(v)
		if err != nil {
			return nil, false, nil
		}
		if id, err := headline.ParseUserID("id", s); err == nil {
			keys = append(keys, dataloaders.Key{ID: id})
		}
	}
	return keys, true, nil
}

// errEntitiesPlan is a plan for _entities that does not match the
// representations gqlgen handed FindManyUserByIDs; entitiesLookups and
// gqlgen's grouping of representations by type disagree.
var errEntitiesPlan = errors.New("graph: the lookups planned for _entities do not match its User representations")

// entityUsers resolves the User representations of an _entities field,
// reps, in their order: from the lookups planned for the field, so that
// all of them cost one batch (a representation repeated, as Apollo Gateway
// sends them, is looked up once). An id that names no user is a null
// entity with no error; an id that does not parse is that entity's
// BAD_USER_INPUT.
func (r *Resolver) entityUsers(ctx context.Context, reps []*UserByIDsInput) ([]*headline.User, error) {
	res, err := r.lookUp(ctx, "_entities", func() fieldArgs { return boundArgs(graphql.GetFieldContext(ctx).Args) })
	if err != nil {
		return nil, err
	}
	users := make([]*headline.User, len(reps))
	errs := make(graphql.BatchErrorList, len(reps))
	failed := false
	j := 0
	for i, rep := range reps {
		if _, err := headline.ParseUserID("id", rep.ID); err != nil {
			errs[i], failed = err, true
			continue
		}
		if j == len(res.Users) {
			return nil, errEntitiesPlan
		}
		users[i], errs[i] = res.Users[j], res.Errs[j]
		failed = failed || errs[i] != nil
		j++
	}
	if j != len(res.Users) {
		return nil, errEntitiesPlan
	}
	if failed {
		return users, errs
	}
	return users, nil
}
