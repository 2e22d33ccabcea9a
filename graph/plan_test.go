package graph_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/headline/headline"
	"github.com/headline/headline/dataloaders"
	"github.com/headline/headline/graph"
)

// batchRecorder is a dataloaders.ProfileGetter that records the keys of
// each batch. Ids below 100 are users, named user<id>; others have none.
type batchRecorder struct {
	mu      sync.Mutex
	batches [][]dataloaders.Key
}

// Lookup answers every account as enabled.
func (b *batchRecorder) Lookup(_ context.Context, keys []dataloaders.Key) dataloaders.Results {
	b.mu.Lock()
	b.batches = append(b.batches, slices.Clone(keys))
	b.mu.Unlock()
	users := make([]*headline.User, len(keys))
	for i, k := range keys {
		if k.ID < 100 {
			users[i] = &headline.User{ID: k.ID, Name: fmt.Sprintf("user%d", k.ID)}
		}
	}
	return dataloaders.Results{Users: users, Errs: make([]error, len(keys))}
}

// planPost sends query with vars to a handler built with opts, as viewer,
// and returns its data, its errors and the batches its lookups made.
func planPost(t *testing.T, opts graph.Options, viewer headline.Viewer, query string, vars map[string]any) (json.RawMessage, []gqlError, [][]dataloaders.Key) {
	t.Helper()
	rec := &batchRecorder{}
	w := serveOptions(opts, rec, viewer, query, vars)
	// The data raw, to compare in the order of the query.
	var resp struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatalf("response %q: %v", w.Body.String(), err)
	}
	return resp.Data, resp.Errors, rec.batches
}

func showKeys(keys []dataloaders.Key) string {
	keys = slices.SortedFunc(slices.Values(keys), func(a, b dataloaders.Key) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(fmt.Sprint(a.WithStatus), fmt.Sprint(b.WithStatus)))
	})
	var parts []string
	for _, k := range keys {
		s := fmt.Sprint(k.ID)
		if k.WithStatus {
			s += "+status"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func showErrors(errs []gqlError) string {
	var parts []string
	for _, e := range errs {
		parts = append(parts, fmt.Sprintf("%v %s code=%v field=%v", e.Path, e.Message, e.Extensions["code"], e.Extensions["field"]))
	}
	return strings.Join(parts, "; ")
}

// TestAQueryIsOneBatch: every user a query looks up is loaded in one batch
// of distinct keys, however its fields are written, and each field gets
// its own answer.
func TestAQueryIsOneBatch(t *testing.T) {
	const notAnID = `"x" is not a user id (a decimal integer from 1 to 9223372036854775807)`
	cases := []struct {
		name   string
		query  string
		vars   map[string]any
		batch  string // the one batch's keys, sorted; "" for no batch
		data   string
		errors string
	}{
		{name: "aliases with different ids",
			query: `{ a: user(id: "1") { id } b: user(id: "2") { id } }`,
			batch: "1 2", data: `{"a":{"id":"1"},"b":{"id":"2"}}`},
		{name: "a field repeated with the same arguments",
			query: `{ user(id: "1") { id } user(id: "1") { name } }`,
			batch: "1", data: `{"user":{"id":"1","name":"user1"}}`},
		{name: "fragments and inline fragments",
			query: `{ ...F ... on Query { b: user(id: "2") { id } } } fragment F on Query { a: user(id: "1") { id } }`,
			batch: "1 2", data: `{"a":{"id":"1"},"b":{"id":"2"}}`},
		{name: "@skip and @include with variables",
			query: `query($s: Boolean!, $i: Boolean!) { a: user(id: "1") @skip(if: $s) { id } b: user(id: "2") @include(if: $i) { id } c: user(id: "3") @include(if: $s) { id } }`,
			vars:  map[string]any{"s": true, "i": true},
			batch: "2 3", data: `{"b":{"id":"2"},"c":{"id":"3"}}`},
		{name: "ids in variables, as strings and as numbers",
			query: `query($id: ID!, $ids: [ID!]!) { user(id: $id) { id } users(ids: $ids) { id } x: user(id: "8") { id } }`,
			vars:  map[string]any{"id": 4, "ids": []any{"5", 6}},
			batch: "4 5 6 8", data: `{"user":{"id":"4"},"users":[{"id":"5"},{"id":"6"}],"x":{"id":"8"}}`},
		{name: "one id where a list is expected",
			query: `{ users(ids: "3") { id } }`,
			batch: "3", data: `{"users":[{"id":"3"}]}`},
		{name: "me and the same user",
			query: `{ me { id } user(id: "7") { name } }`,
			batch: "7 7+status", data: `{"me":{"id":"7"},"user":{"name":"user7"}}`},
		{name: "an id listed twice and a missing user",
			query: `{ users(ids: ["1", "500", "1"]) { id } }`,
			batch: "1 500", data: `{"users":[{"id":"1"},null,{"id":"1"}]}`},
		// users is non-null: its refusal nulls the data, but not the lookup
		// of the other field.
		{name: "a bad id refuses its field",
			query: `{ user(id: "2") { id } users(ids: ["1", "x"]) { id } }`,
			batch: "2", data: `null`,
			errors: `[users] ids[1]: ` + notAnID + ` code=BAD_USER_INPUT field=ids[1]`},
		{name: "a bad id refuses its field alone",
			query: `{ a: user(id: "x") { id } b: user(id: "2") { id } }`,
			batch: "2", data: `{"a":null,"b":{"id":"2"}}`,
			errors: `[a] id: ` + notAnID + ` code=BAD_USER_INPUT field=id`},
		{name: "a bad id in a variable",
			query: `query($id: ID!) { user(id: $id) { id } }`, vars: map[string]any{"id": "x"},
			data:   `{"user":null}`,
			errors: `[user] id: ` + notAnID + ` code=BAD_USER_INPUT field=id`},
		{name: "too many ids",
			query:  `{ users(ids: ["1", "2", "3", "4"]) { id } }`,
			data:   `null`,
			errors: `[users] ids: at most 3 ids may be asked for at once, got 4 code=BAD_USER_INPUT field=ids`},
		{name: "nothing to look up", query: `{ __typename }`, data: `{"__typename":"Query"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, errs, batches := planPost(t, graph.Options{MaxIDs: 3}, headline.Viewer{UserID: 7}, tc.query, tc.vars)
			want := 1
			if tc.batch == "" {
				want = 0
			}
			if len(batches) != want {
				t.Errorf("%d batches %v, want %d", len(batches), batches, want)
			} else if want == 1 {
				if got := showKeys(batches[0]); got != tc.batch || len(batches[0]) != len(strings.Fields(tc.batch)) {
					t.Errorf("batch %v, want the distinct keys %s", batches[0], tc.batch)
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

func TestMeWithoutAViewer(t *testing.T) {
	viewer := headline.Viewer{Err: headline.ErrUnauthorized}
	data, errs, batches := planPost(t, graph.Options{}, viewer, `{ me { id } user(id: "1") { id } }`, nil)
	if got, want := showErrors(errs), `[me] User must be authorized. code=UNAUTHENTICATED field=<nil>`; got != want {
		t.Errorf("errors %s, want %s", got, want)
	}
	if got, want := string(data), `{"me":null,"user":{"id":"1"}}`; got != want {
		t.Errorf("data %s, want %s", got, want)
	}
	if len(batches) != 1 || showKeys(batches[0]) != "1" {
		t.Errorf("batches %v, want one of user 1", batches)
	}
}
