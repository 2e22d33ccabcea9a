package graph_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/headline/headline"
	"github.com/headline/headline/graph"
)

// entitiesQuery is the query Apollo Gateway sends a subgraph for the
// authors of a feed.
const entitiesQuery = `query($representations: [_Any!]!) { _entities(representations: $representations) { ... on User { __typename id name } } }`

func userRep(id any) map[string]any { return map[string]any{"__typename": "User", "id": id} }

func entityJSON(id int) string {
	return fmt.Sprintf(`{"__typename":"User","id":"%d","name":"user%d"}`, id, id)
}

// TestEntitiesAreOneBatch: the references of an _entities field are
// planned like users(ids:): one batch of distinct keys, before any
// resolver, with each representation's answer in its place.
func TestEntitiesAreOneBatch(t *testing.T) {
	const notAnID = `"x" is not a user id (a decimal integer from 1 to 9223372036854775807)`
	fifty := make([]any, 50)
	var fiftyBatch, fiftyData []string
	for i := range fifty {
		fifty[i] = userRep(fmt.Sprint(i + 1))
		fiftyBatch = append(fiftyBatch, fmt.Sprint(i+1))
		fiftyData = append(fiftyData, entityJSON(i+1))
	}
	cases := []struct {
		name   string
		query  string
		maxIDs int // 0: 100
		reps   []any
		batch  string // the one batch's keys, sorted; "" for no batch
		data   string
		errors string
	}{
		{name: "50 references",
			reps: fifty, batch: strings.Join(fiftyBatch, " "),
			data: `{"_entities":[` + strings.Join(fiftyData, ",") + `]}`},
		{name: "references repeated, as Apollo Gateway sends them",
			reps:  []any{userRep("1"), userRep("2"), userRep("1"), userRep("1")},
			batch: "1 2", data: `{"_entities":[` + entityJSON(1) + "," + entityJSON(2) + "," + entityJSON(1) + "," + entityJSON(1) + `]}`},
		{name: "an id as a number",
			reps:  []any{userRep(3)},
			batch: "3", data: `{"_entities":[` + entityJSON(3) + `]}`},
		{name: "an unknown id is a null entity, with no error",
			reps:  []any{userRep("1"), userRep("500")},
			batch: "1 500", data: `{"_entities":[` + entityJSON(1) + `,null]}`},
		{name: "a bad id is its entity's error",
			reps:  []any{userRep("1"), userRep("x"), userRep("2")},
			batch: "1 2", data: `{"_entities":[` + entityJSON(1) + `,null,` + entityJSON(2) + `]}`,
			errors: `[_entities 1] id: ` + notAnID + ` code=BAD_USER_INPUT field=id`},
		{name: "a representation of another type",
			reps:  []any{userRep("1"), map[string]any{"__typename": "Article", "id": "1"}},
			batch: "1", data: `{"_entities":[` + entityJSON(1) + `,null]}`,
			errors: `[_entities] representations: unknown type: Article code=BAD_USER_INPUT field=representations`},
		{name: "too many representations", maxIDs: 3,
			reps:   []any{userRep("1"), userRep("2"), userRep("1"), userRep("3")},
			data:   `{"_entities":[null,null,null,null]}`,
			errors: `[_entities] representations: at most 3 entities may be asked for at once, got 4 code=BAD_USER_INPUT field=representations`},
		{name: "with users(ids:) in the same query",
			query: `query($representations: [_Any!]!) { users(ids: ["1", "7"]) { id } _entities(representations: $representations) { ... on User { id } } }`,
			reps:  []any{userRep("2"), userRep("7")},
			batch: "1 2 7", data: `{"users":[{"id":"1"},{"id":"7"}],"_entities":[{"id":"2"},{"id":"7"}]}`},
		{name: "representations written in the query",
			query: `{ _entities(representations: [{__typename: "User", id: "4"}, {__typename: "User", id: "5"}]) { ... on User { id } } }`,
			batch: "4 5", data: `{"_entities":[{"id":"4"},{"id":"5"}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			query := tc.query
			if query == "" {
				query = entitiesQuery
			}
			data, errs, batches := planPost(t, graph.Options{MaxIDs: tc.maxIDs}, headline.Viewer{}, query, map[string]any{"representations": tc.reps})
			want := 1
			if tc.batch == "" {
				want = 0
			}
			if len(batches) != want {
				t.Errorf("%d batches %v, want %d", len(batches), batches, want)
			} else if want == 1 {
				if got := showKeys(batches[0]); got != tc.batch || len(batches[0]) != len(strings.Fields(tc.batch)) {
					t.Errorf("batch %s, want the distinct keys %s", got, tc.batch)
				}
			}
			if string(data) != tc.data {
				t.Errorf("data %s, want %s", data, tc.data)
			}
			if got := showErrors(errs); got != tc.errors {
				t.Errorf("errors:\n got %s\nwant %s", got, tc.errors)
			}
		})
	}
}
