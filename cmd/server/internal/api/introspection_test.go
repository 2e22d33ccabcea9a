package api

import (
	"fmt"
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
