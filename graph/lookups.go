package graph

import (
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/headline/headline"
	"github.com/headline/headline/dataloaders"
)

// userFields lists, by name, every Query field that looks users up, and how
// each reads its lookups. The planner reads it to load the lookups of all
// such fields of an operation in one batch before any resolver runs; their
// resolvers answer from that batch, and read their lookups themselves only
// when no plan covers them. A Query field returning User or [User] without
// an entry here fails TestEveryUserFieldIsInTheTable: it would fall back
// to the timed loader on every request.
var userFields = map[string]userField{
	"me":    {lookups: meLookups},
	"user":  {lookups: userLookups},
	"users": {lookups: usersLookups},
	// Apollo Federation's entity references (entities.go).
	"_entities": {lookups: entitiesLookups},
}

// userField is a Query field that looks users up.
type userField struct {
	// lookups returns the keys the field looks up, one result each in its
	// answer, or err, the field's answer when its arguments or the viewer
	// refuse it before any lookup. bound is false when an argument cannot
	// be bound as gqlgen binds it: gqlgen then fails the field itself and
	// never calls its resolver.
	lookups func(a fieldArgs, v headline.Viewer, maxIDs int) (keys []dataloaders.Key, bound bool, err error)
}

func meLookups(_ fieldArgs, v headline.Viewer, _ int) ([]dataloaders.Key, bool, error) {
	if v.Err != nil {
		return nil, true, v.Err
	}
	return []dataloaders.Key{{ID: v.UserID, WithStatus: true}}, true, nil
}

func userLookups(a fieldArgs, _ headline.Viewer, _ int) ([]dataloaders.Key, bool, error) {
	s, ok := a.id("id")
	if !ok {
		return nil, false, nil
	}
	id, err := headline.ParseUserID("id", s)
	if err != nil {
		return nil, true, err
	}
	return []dataloaders.Key{{ID: id}}, true, nil
}

// usersLookups refuses the whole list for one bad id, naming it (ids[3]).
func usersLookups(a fieldArgs, _ headline.Viewer, maxIDs int) ([]dataloaders.Key, bool, error) {
	ids, ok := a.ids("ids")
	if !ok {
		return nil, false, nil
	}
	if len(ids) > maxIDs {
		return nil, true, headline.BadInput("ids", "ids: at most %d ids may be asked for at once, got %d", maxIDs, len(ids))
	}
	keys := make([]dataloaders.Key, len(ids))
	for i, s := range ids {
		id, err := headline.ParseUserID("ids", s)
		if err != nil {
			// Parsed again only to name the entry: the name costs an
			// allocation that valid ids need not pay.
			_, err = headline.ParseUserID("ids["+strconv.Itoa(i)+"]", s)
			return nil, true, err
		}
		keys[i] = dataloaders.Key{ID: id}
	}
	return keys, true, nil
}

// fieldArgs are a field's arguments, read by id and ids typed as gqlgen
// binds them for its resolver: an ID as a string, a list of IDs as
// []string. They are either those a resolver was called with (bound), or
// the field's in the operation (field, vars), which the planner reads
// before gqlgen binds them.
//
// From the operation they are read exactly as gqlgen will bind them: the
// value ast.Field.ArgumentMap gives (a variable's value as sent, a literal
// as written, else the argument's default), then graphql.CoerceList and
// graphql.UnmarshalID, as the generated code calls them. A string literal
// is taken as it is, so a list of them is read without boxing each id in
// an interface.
type fieldArgs struct {
	bound map[string]any
	field *ast.Field
	vars  map[string]any
}

// boundArgs are the arguments a resolver was called with.
func boundArgs(args map[string]any) fieldArgs { return fieldArgs{bound: args} }

// operationArgs are field's arguments in the operation, with its variables.
func operationArgs(field *ast.Field, vars map[string]any) fieldArgs {
	return fieldArgs{field: field, vars: vars}
}

// arg returns the argument's literal, or its value when it comes from a
// variable; ok is false when the argument is absent and has no default.
func (o fieldArgs) arg(name string) (lit *ast.Value, val any, ok bool) {
	if a := o.field.Arguments.ForName(name); a != nil {
		if a.Value.Kind != ast.Variable {
			return a.Value, nil, true
		}
		if val, ok := o.vars[a.Value.Raw]; ok {
			return nil, val, true
		}
	}
	if o.field.Definition != nil {
		if d := o.field.Definition.Arguments.ForName(name); d != nil && d.DefaultValue != nil {
			return d.DefaultValue, nil, true
		}
	}
	return nil, nil, false
}

func (o fieldArgs) id(name string) (string, bool) {
	if o.field == nil {
		s, ok := o.bound[name].(string)
		return s, ok
	}
	lit, val, ok := o.arg(name)
	if !ok {
		return "", true // bound as the zero value
	}
	if lit != nil {
		return o.literalID(lit)
	}
	s, err := graphql.UnmarshalID(val)
	return s, err == nil
}

func (o fieldArgs) ids(name string) ([]string, bool) {
	if o.field == nil {
		s, ok := o.bound[name].([]string)
		return s, ok
	}
	lit, val, ok := o.arg(name)
	switch {
	case !ok:
		return nil, true // bound as the zero value
	case lit != nil && lit.Kind == ast.ListValue:
		ids := make([]string, len(lit.Children))
		for i, c := range lit.Children {
			if ids[i], ok = o.literalID(c.Value); !ok {
				return nil, false
			}
		}
		return ids, true
	case lit != nil:
		v, err := lit.Value(o.vars)
		if err != nil {
			return nil, false
		}
		val = v
	}
	list := graphql.CoerceList(val)
	ids := make([]string, len(list))
	for i, v := range list {
		s, err := graphql.UnmarshalID(v)
		if err != nil {
			return nil, false
		}
		ids[i] = s
	}
	return ids, true
}

// representations reads a list of _Any as gqlgen binds it, []map[string]any
// (graphql.CoerceList, then graphql.UnmarshalMap of each element).
func (o fieldArgs) representations(name string) ([]map[string]any, bool) {
	if o.field == nil {
		reps, ok := o.bound[name].([]map[string]any)
		return reps, ok
	}
	lit, val, ok := o.arg(name)
	if !ok {
		return nil, true // bound as the zero value
	}
	if lit != nil {
		v, err := lit.Value(o.vars)
		if err != nil {
			return nil, false
		}
		val = v
	}
	list := graphql.CoerceList(val)
	reps := make([]map[string]any, len(list))
	for i, v := range list {
		m, err := graphql.UnmarshalMap(v)
		if err != nil {
			return nil, false
		}
		reps[i] = m
	}
	return reps, true
}

func (o fieldArgs) literalID(v *ast.Value) (string, bool) {
	switch v.Kind {
	case ast.StringValue, ast.BlockValue, ast.EnumValue:
		return v.Raw, true
	}
	val, err := v.Value(o.vars)
	if err != nil {
		return "", false
	}
	s, err := graphql.UnmarshalID(val)
	return s, err == nil
}
