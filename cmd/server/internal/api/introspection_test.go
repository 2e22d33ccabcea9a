package api

import (
	"fmt"
	"strings"
	"testing"

	"github.com/headline/headline/store/storetest"
)

func TestIntrospectionSwitch(t *testing.T) {
	for _, tc := range []struct {
		name string
		on   bool
	}{
		{"on by default, so the Playground can read the schema", true},
		{"off with INTROSPECTION=false", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, func(c *testConfig) { c.GraphQL.Introspection = tc.on })
			r := s.Post(t, `{ __schema { queryType { name } } }`, nil)
			served := len(r.Errors) == 0 && string(r.Data["__schema"]) == `{"queryType":{"name":"Query"}}`
			if served != tc.on {
				t.Errorf("introspection served = %v, want %v: %s", served, tc.on, r.Raw)
			}
			// Without introspection, ordinary queries are unaffected.
			r = s.Post(t, fmt.Sprintf(`{ user(id: "%d") { id } }`, storetest.IDs(t, 1)), nil)
			if len(r.Errors) > 0 {
				t.Errorf("a plain query failed: %s", r.Raw)
			}
		})
	}
}

// With introspection off, asking for the schema is the client's error, not
// the server's: a request error with a code, and no ERROR in the log (gqlgen
// alone failed the field with a plain error, which was answered
// INTERNAL_SERVER_ERROR and logged as an internal error, once per request).
func TestIntrospectionOffIsARequestError(t *testing.T) {
	s := newLoggedServer(t, func(c *testConfig) { c.GraphQL.Introspection = false })
	for _, query := range []string{
		`{ __schema { queryType { name } } }`,
		`{ __type(name: "User") { name } }`,
		`{ _service { sdl } }`,
		`query { ...F } fragment F on Query { ... on Query { __schema { types { name } } } }`,
	} {
		r := s.Post(t, query, nil)
		if r.Data != nil || len(r.Errors) != 1 || r.Code("") != "GRAPHQL_VALIDATION_FAILED" {
			t.Errorf("%s: got %s, want only a GRAPHQL_VALIDATION_FAILED error and no data", query, r.Raw)
		}
	}
	if logs := s.logs.String(); strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("refused introspection was logged as an error:\n%s", logs)
	}
}
