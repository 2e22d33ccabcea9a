package graph

import (
	"context"
	"strconv"

	"github.com/99designs/gqlgen/graphql"

	"github.com/headline/headline"
)

// parseIDs parses the ids argument of users(ids:), naming the bad entry.
func parseIDs(ids []string, max int) ([]headline.UserID, error) {
	if len(ids) > max {
		return nil, headline.BadInput("ids", "ids: at most %d ids may be asked for at once, got %d", max, len(ids))
	}
	out := make([]headline.UserID, len(ids))
	for i, s := range ids {
		id, err := headline.ParseUserID("ids["+strconv.Itoa(i)+"]", s)
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
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
