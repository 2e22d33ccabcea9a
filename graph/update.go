package graph

import (
	"errors"

	"github.com/99designs/gqlgen/graphql"

	"github.com/headline/headline"
)

// profileUpdate turns the GraphQL input into the domain's update, keeping
// "omitted" (unchanged) apart from null (cleared).
func profileUpdate(in UpdateMeInput) headline.ProfileUpdate {
	change := func(o graphql.Omittable[*string]) headline.Change[*string] {
		v, set := o.ValueOK()
		return headline.Change[*string]{Set: set, Value: v}
	}
	return headline.ProfileUpdate{Name: change(in.Name), Intro: change(in.Intro), Photo: change(in.Photo)}
}

// errNoUpdater is what updateMe answers when the server was built without
// one: a wiring bug, shown as an internal error.
var errNoUpdater = errors.New("graph: Resolver.Profiles is not set")
