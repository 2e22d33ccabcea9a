package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/headline/headline"
	"github.com/headline/headline/dataloaders"
)

// TestEveryUserFieldIsInTheTable walks the executable schema: a Query field
// returning User or [User], or a union or interface User is one of
// (_entities: [_Entity]!), must say in userFields how it looks users up,
// or the planner would leave it to the timed loader on every request.
func TestEveryUserFieldIsInTheTable(t *testing.T) {
	schema := NewExecutableSchema(Config{Resolvers: &Resolver{}}).Schema()
	users := 0
	for _, f := range schema.Query.Fields {
		typ := f.Type
		for typ.Elem != nil {
			typ = typ.Elem
		}
		isUser := slices.ContainsFunc(schema.GetPossibleTypes(schema.Types[typ.NamedType]),
			func(d *ast.Definition) bool { return d.Name == "User" })
		_, listed := userFields[f.Name]
		switch {
		case isUser && !listed:
			t.Errorf("Query.%s returns %s but is not in userFields", f.Name, f.Type)
		case !isUser && listed:
			t.Errorf("userFields lists Query.%s, which returns %s", f.Name, f.Type)
		}
		if listed {
			users++
		}
	}
	if users != len(userFields) {
		t.Errorf("userFields has %d entries, the schema %d such Query fields", len(userFields), users)
	}
}

// emptyStore answers every lookup with no user.
type emptyStore struct{ batches int }

func (s *emptyStore) Lookup(_ context.Context, keys []dataloaders.Key) dataloaders.Results {
	s.batches++
	return dataloaders.Results{Users: make([]*headline.User, len(keys)), Errs: make([]error, len(keys))}
}

// TestResolversWithoutAPlan: a resolver that no plan covers (called here
// directly, without the handler) reads its lookups itself and answers as
// a planned one would, errors included.
func TestResolversWithoutAPlan(t *testing.T) {
	store := &emptyStore{}
	ctx := dataloaders.NewContext(context.Background(), dataloaders.New(store, dataloaders.Options{}))
	q := &queryResolver{&Resolver{MaxIDs: 3}}
	checkBadInput := func(t *testing.T, err error, field, msg string) {
		t.Helper()
		e, ok := errors.AsType[*headline.Error](err)
		if !ok || e.Code != headline.ECodeBadInput || e.Field != field || e.Message != msg {
			t.Errorf("error %#v, want BAD_USER_INPUT on %s: %s", err, field, msg)
		}
	}
	const notAnID = `"x" is not a user id (a decimal integer from 1 to 9223372036854775807)`

	_, err := q.Users(ctx, []string{"1", "x"})
	checkBadInput(t, err, "ids[1]", "ids[1]: "+notAnID)
	_, err = q.Users(ctx, []string{"1", "2", "3", "4"})
	checkBadInput(t, err, "ids", "ids: at most 3 ids may be asked for at once, got 4")
	_, err = q.User(ctx, "x")
	checkBadInput(t, err, "id", "id: "+notAnID)
	if _, err := q.Me(headline.NewContextWithViewer(ctx, headline.Viewer{Err: headline.ErrUnauthorized})); !errors.Is(err, headline.ErrUnauthorized) {
		t.Errorf("me without a viewer: %v, want %v", err, headline.ErrUnauthorized)
	}
	if store.batches != 0 {
		t.Errorf("%d batches for refused fields, want 0", store.batches)
	}

	users, err := q.Users(ctx, []string{"1", "2", "1"})
	if err != nil || len(users) != 3 {
		t.Errorf("users = %v, %v; want 3 entries", users, err)
	}
	if _, err := q.Me(headline.NewContextWithViewer(ctx, headline.Viewer{UserID: 5})); !errors.Is(err, headline.ErrUnauthorized) {
		t.Errorf("me for a user who does not exist: %v, want %v", err, headline.ErrUnauthorized)
	}
	if store.batches != 2 {
		t.Errorf("%d batches, want 2: one for users, one for me", store.batches)
	}
}

// TestEachFieldReadsItsLookupsOnce: the planner reads a field's lookups
// (parses its ids) and its resolver takes them from the plan, so each
// userFields entry runs once per field of a query, not again in the
// resolver.
func TestEachFieldReadsItsLookupsOnce(t *testing.T) {
	saved := maps.Clone(userFields)
	t.Cleanup(func() { userFields = saved })
	var mu sync.Mutex // resolvers run on goroutines of their own
	calls := map[string]int{}
	for name, uf := range saved {
		userFields[name] = userField{lookups: func(a fieldArgs, v headline.Viewer, maxIDs int) ([]dataloaders.Key, bool, error) {
			mu.Lock()
			calls[name]++
			mu.Unlock()
			return uf.lookups(a, v, maxIDs)
		}}
	}
	store := &emptyStore{}
	query := `{ me { id } a: user(id: "1") { id } b: user(id: "x") { id } users(ids: ["1", "2"]) { id }
		_entities(representations: [{__typename: "User", id: "4"}]) { ... on User { id } } }`
	body, _ := json.Marshal(map[string]any{"query": query})
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	ctx := dataloaders.NewContext(req.Context(), dataloaders.New(store, dataloaders.Options{}))
	req = req.WithContext(headline.NewContextWithViewer(ctx, headline.Viewer{UserID: 3}))
	w := httptest.NewRecorder()
	NewHandler(Options{}).ServeHTTP(w, req)
	if !strings.Contains(w.Body.String(), `"users":[null,null],"_entities":[null]`) {
		t.Fatalf("response %s", w.Body)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := map[string]int{"me": 1, "user": 2, "users": 1, "_entities": 1}; !maps.Equal(calls, want) {
		t.Errorf("lookups read %v times, want %v: once per field", calls, want)
	}
	if store.batches != 1 {
		t.Errorf("%d batches, want 1", store.batches)
	}
}
