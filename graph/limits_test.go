package graph_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/introspection"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/headline/headline"
	"github.com/headline/headline/dataloaders"
	"github.com/headline/headline/graph"
)

// limitsStub answers every id with a user and counts its calls: a refused
// query must not reach it.
type limitsStub struct{ calls atomic.Int64 }

func (s *limitsStub) Lookup(_ context.Context, keys []dataloaders.Key) dataloaders.Results {
	s.calls.Add(1)
	users := make([]*headline.User, len(keys))
	for i, k := range keys {
		users[i] = &headline.User{ID: k.ID, Name: fmt.Sprintf("user %d", k.ID)}
	}
	return dataloaders.Results{Users: users, Errs: make([]error, len(keys))}
}

// limitsPost sends query to a handler built with opts, with no viewer,
// and returns the decoded response and how often the store was called.
func limitsPost(t *testing.T, opts graph.Options, query string) (response, int64) {
	t.Helper()
	stub := &limitsStub{}
	w := serveOptions(opts, stub, headline.Viewer{Err: headline.ErrUnauthorized}, query, nil)
	return newResponse(t, w.Code, w.Body.Bytes()), stub.calls.Load()
}

// aliasedUsers is n root fields u1: user(id: "1") … each selecting sub.
func aliasedUsers(n int, sub string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, " u%d: user(id: \"%d\") { %s }", i, i, sub)
	}
	b.WriteString(" }")
	return b.String()
}

// ofTypes nests n ofType fields around { name }.
func ofTypes(n int) string {
	return strings.Repeat("ofType { ", n) + "name" + strings.Repeat(" }", n)
}

type limitCase struct {
	name  string
	opts  graph.Options
	query string
	// refused names the limit the query must break ("depth", "aliases",
	// "fields"), or is empty when the query must be answered.
	refused string
}

func runLimitCases(t *testing.T, cases []limitCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, calls := limitsPost(t, tc.opts, tc.query)
			if tc.refused == "" {
				if resp.status != http.StatusOK || len(resp.Errors) > 0 {
					t.Fatalf("status %d, errors %+v; want an answer", resp.status, resp.Errors)
				}
				if strings.Contains(tc.query, "user(") && calls == 0 {
					t.Errorf("the store was not called for an accepted query")
				}
				return
			}
			// A validation failure under application/json (GraphQL over
			// HTTP: 200; gqlgen's own transports said 422).
			if resp.status != http.StatusOK {
				t.Errorf("status %d, want 200", resp.status)
			}
			if len(resp.Errors) != 1 {
				t.Fatalf("errors %+v, want one", resp.Errors)
			}
			e := resp.Errors[0]
			if e.Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" || e.Extensions["limit"] != tc.refused {
				t.Errorf("extensions %v, want code GRAPHQL_VALIDATION_FAILED and limit %q", e.Extensions, tc.refused)
			}
			if !strings.Contains(e.Message, "exceeds the limit of") {
				t.Errorf("message %q names no limit", e.Message)
			}
			if resp.Data != nil {
				t.Errorf("data, want none: %s", resp.raw)
			}
			if calls != 0 {
				t.Errorf("the store was called %d times for a refused query", calls)
			}
		})
	}
}

func TestDepthLimit(t *testing.T) {
	intro := graph.Options{Introspection: true}
	runLimitCases(t, []limitCase{
		{"root field at limit 1", graph.Options{MaxDepth: 1}, `{ __typename }`, ""},
		{"typename counts", graph.Options{MaxDepth: 1}, `{ user(id: "1") { __typename } }`, "depth"},
		{"at limit 2", graph.Options{MaxDepth: 2}, `{ user(id: "1") { name } }`, ""},
		{"over by one", graph.Options{MaxDepth: 2, Introspection: true},
			`{ user(id: "1") { name } __type(name: "User") { fields { name } } }`, "depth"},
		{"fragment spread at limit", graph.Options{MaxDepth: 3, Introspection: true},
			`{ user(id: "1") { name } __type(name: "User") { ...F } } fragment F on __Type { fields { name } }`, ""},
		{"fragment spread over by one", graph.Options{MaxDepth: 3, Introspection: true},
			`{ user(id: "1") { name } __type(name: "User") { ...F } } fragment F on __Type { fields { type { name } } }`, "depth"},
		{"nested spreads and inline fragment over by one", graph.Options{MaxDepth: 3, Introspection: true},
			`{ user(id: "1") { ... on User { name } } __type(name: "User") { ...F } }
			 fragment F on __Type { ... on __Type { fields { ...G } } }
			 fragment G on __Field { type { name } }`, "depth"},
		{"default admits 15", intro, `{ user(id: "1") { name } __schema { types { fields { type { ` + ofTypes(10) + ` } } } } }`, ""},
		{"default refuses 16", intro, `{ user(id: "1") { name } __schema { types { fields { type { ` + ofTypes(11) + ` } } } } }`, "depth"},
		{"full introspection query at default", intro, introspection.Query, ""},
		{"full introspection query with isOneOf at default", intro, introspection.NewQuery(introspection.QueryOptions{OneOf: true}), ""},
		{"full introspection query is depth 15", graph.Options{MaxDepth: 14, Introspection: true}, introspection.Query, "depth"},
	})
}

func TestAliasLimit(t *testing.T) {
	runLimitCases(t, []limitCase{
		{"at limit", graph.Options{MaxAliases: 3}, aliasedUsers(3, "name"), ""},
		{"over by one", graph.Options{MaxAliases: 3}, aliasedUsers(4, "name"), "aliases"},
		{"alias equal to name does not count", graph.Options{MaxAliases: 3}, aliasedUsers(3, "name: name"), ""},
		{"nested aliases count", graph.Options{MaxAliases: 3}, aliasedUsers(2, "n: name"), "aliases"},
		{"fragment used twice at limit", graph.Options{MaxAliases: 4},
			`{ a: user(id: "1") { ...F } b: user(id: "2") { ...F } } fragment F on User { n: name }`, ""},
		{"fragment used twice counts twice", graph.Options{MaxAliases: 3},
			`{ a: user(id: "1") { ...F } b: user(id: "2") { ...F } } fragment F on User { n: name }`, "aliases"},
		{"inline fragment and nested spread", graph.Options{MaxAliases: 3},
			`{ ...Q } fragment Q on Query { a: user(id: "1") { ... on User { n: name } } ...R }
			 fragment R on Query { b: user(id: "2") { id } }`, ""},
		{"inline fragment and nested spread over by one", graph.Options{MaxAliases: 3},
			`{ ...Q } fragment Q on Query { a: user(id: "1") { ... on User { n: name } } ...R }
			 fragment R on Query { b: user(id: "2") { i: id } }`, "aliases"},
		{"default: feed of 50 aliased users, each with an aliased field", graph.Options{}, aliasedUsers(50, "n: name"), ""},
		{"default over by one", graph.Options{}, "{ t: __typename " + aliasedUsers(50, "n: name")[1:], "aliases"},
	})
}

// TestLimitsSurviveFragmentCycles runs the extensions on a document that
// was never validated: validation rejects fragment cycles, but the walk
// must not loop on one either.
func TestLimitsSurviveFragmentCycles(t *testing.T) {
	doc, err := parser.ParseQuery(&ast.Source{Input: `
		{ a: user(id: "1") { ...F } }
		fragment F on User { n: name ...G }
		fragment G on User { m: name ...F }`})
	if err != nil {
		t.Fatal(err)
	}
	oc := &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0]}
	// The document has depth 2, 3 aliases and 3 fields.
	checkLimits(t, oc, []limitsCall{
		{"all at their limits", graph.Limits{MaxDepth: 2, MaxAliases: 3, MaxFields: 3}, ""},
		{"depth 2 at limit 1", graph.Limits{MaxDepth: 1, MaxAliases: 3, MaxFields: 3}, "depth"},
		{"3 aliases at limit 2", graph.Limits{MaxDepth: 2, MaxAliases: 2, MaxFields: 3}, "aliases"},
		{"3 fields at limit 2", graph.Limits{MaxDepth: 2, MaxAliases: 3, MaxFields: 2}, "fields"},
	})
}

// TestLimitsAreCheckedInOrder: an operation over several limits is refused
// for the first of depth, aliases and fields that it breaks.
func TestLimitsAreCheckedInOrder(t *testing.T) {
	doc, err := parser.ParseQuery(&ast.Source{Input: `{ a: user(id: "1") { n: name } b: user(id: "2") { id } }`})
	if err != nil {
		t.Fatal(err)
	}
	oc := &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0]}
	// The document has depth 2, 3 aliases and 4 fields.
	checkLimits(t, oc, []limitsCall{
		{"over all three", graph.Limits{MaxDepth: 1, MaxAliases: 2, MaxFields: 3}, "depth"},
		{"over aliases and fields", graph.Limits{MaxDepth: 2, MaxAliases: 2, MaxFields: 3}, "aliases"},
		{"over depth and fields", graph.Limits{MaxDepth: 1, MaxAliases: 3, MaxFields: 3}, "depth"},
		{"over fields only", graph.Limits{MaxDepth: 2, MaxAliases: 3, MaxFields: 3}, "fields"},
	})
}

type limitsCall struct {
	name   string
	limits graph.Limits
	// refused is the extensions.limit of the refusal, empty for none.
	refused string
}

// checkLimits runs each call's Limits on oc directly, as gqlgen would.
func checkLimits(t *testing.T, oc *graphql.OperationContext, calls []limitsCall) {
	t.Helper()
	for _, c := range calls {
		e := c.limits.MutateOperationContext(context.Background(), oc)
		switch {
		case c.refused == "" && e != nil:
			t.Errorf("%s: refused: %v", c.name, e)
		case c.refused != "" && e == nil:
			t.Errorf("%s: accepted, want a %s refusal", c.name, c.refused)
		case c.refused != "" && e.Extensions["limit"] != c.refused:
			t.Errorf("%s: refused for %v (%v), want %s", c.name, e.Extensions["limit"], e, c.refused)
		}
	}
}

// TestAliasLimitFragmentFanOut: fragments that each spread the next twice
// multiply the aliases (2^40 here) without the walk doing so.
func TestAliasLimitFragmentFanOut(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{ user(id: "1") { ...F0 } }`)
	const levels = 40
	for i := range levels {
		fmt.Fprintf(&b, " fragment F%d on User { ...F%d ...F%d }", i, i+1, i+1)
	}
	fmt.Fprintf(&b, " fragment F%d on User { n: name }", levels)
	resp, calls := limitsPost(t, graph.Options{}, b.String())
	if resp.status != http.StatusOK || len(resp.Errors) != 1 || resp.Errors[0].Extensions["limit"] != "aliases" || calls != 0 {
		t.Fatalf("status %d, errors %+v, store calls %d; want one aliases refusal", resp.status, resp.Errors, calls)
	}
}

// fanOut is a query whose one user field spreads F0, each Fi spreading
// F(i+1) twice and the last selecting leaf: 2^levels leaves through
// fragments, in a document linear in levels.
func fanOut(levels int, leaf string) string {
	var b strings.Builder
	b.WriteString(`{ user(id: "1") { ...F0 } }`)
	for i := range levels {
		fmt.Fprintf(&b, " fragment F%d on User { ...F%d ...F%d }", i, i+1, i+1)
	}
	fmt.Fprintf(&b, " fragment F%d on User { %s }", levels, leaf)
	return b.String()
}

func TestFieldLimit(t *testing.T) {
	intro := graph.Options{Introspection: true}
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprintf(`"%d"`, i+1)
	}
	const five = "id name photo intro certi"
	runLimitCases(t, []limitCase{
		{"at limit", graph.Options{MaxFields: 2}, `{ user(id: "1") { name } }`, ""},
		{"over by one", graph.Options{MaxFields: 2}, `{ user(id: "1") { id name } }`, "fields"},
		{"typename counts", graph.Options{MaxFields: 2}, `{ user(id: "1") { name __typename } }`, "fields"},
		{"repeated field counts each time", graph.Options{MaxFields: 2}, `{ user(id: "1") { name name } }`, "fields"},
		{"inline fragment counts nothing", graph.Options{MaxFields: 2}, `{ user(id: "1") { ... on User { name } } }`, ""},
		{"fragment used twice at limit", graph.Options{MaxFields: 3},
			`{ user(id: "1") { ...F ...F } } fragment F on User { name }`, ""},
		{"fragment used twice counts twice", graph.Options{MaxFields: 2},
			`{ user(id: "1") { ...F ...F } } fragment F on User { name }`, "fields"},
		{"nested spreads at limit", graph.Options{MaxFields: 6},
			`{ ...Q } fragment Q on Query { a: user(id: "1") { ...F } b: user(id: "2") { ...F } }
			 fragment F on User { ... on User { id } ...G } fragment G on User { name }`, ""},
		{"nested spreads over by one", graph.Options{MaxFields: 5},
			`{ ...Q } fragment Q on Query { a: user(id: "1") { ...F } b: user(id: "2") { ...F } }
			 fragment F on User { ... on User { id } ...G } fragment G on User { name }`, "fields"},
		{"fan-out of 2^3 at limit", graph.Options{MaxFields: 9}, fanOut(3, "name"), ""},
		{"fan-out of 2^3 over by one", graph.Options{MaxFields: 8}, fanOut(3, "name"), "fields"},
		// The list multiplies at execution, not in the document.
		{"default: feed of 100 ids with five fields", graph.Options{},
			`{ users(ids: [` + strings.Join(ids, ", ") + `]) { ` + five + ` } }`, ""},
		{"default: 100 aliased users with five fields", graph.Options{}, aliasedUsers(100, five), ""},
		// 999 names and the user field: complexity 1000, at its limit too.
		{"default at limit", graph.Options{}, `{ user(id: "1") {` + strings.Repeat(" name", 999) + ` } }`, ""},
		{"default over by one, refused before the complexity limit", graph.Options{},
			`{ user(id: "1") {` + strings.Repeat(" name", 1000) + ` } }`, "fields"},
		{"full introspection query at default", intro, introspection.Query, ""},
		{"full introspection query with isOneOf at default", intro, introspection.NewQuery(introspection.QueryOptions{OneOf: true}), ""},
		{"full introspection query selects 226", graph.Options{MaxFields: 226, Introspection: true}, introspection.Query, ""},
		{"full introspection query selects more than 225", graph.Options{MaxFields: 225, Introspection: true}, introspection.Query, "fields"},
	})
}

func TestFieldLimitMessage(t *testing.T) {
	resp, _ := limitsPost(t, graph.Options{MaxFields: 2}, `{ user(id: "1") { ...F ...F } } fragment F on User { name }`)
	const want = "operation selects 3 fields, which exceeds the limit of 2"
	if len(resp.Errors) != 1 || resp.Errors[0].Message != want {
		t.Fatalf("errors %+v, want one %q", resp.Errors, want)
	}
}

// TestFieldLimitFragmentFanOut: 30 levels of fragments that each spread the
// next twice select 2^30 names in a 1.2 KB document with no alias and depth
// 2. gqlgen's complexity walk would expand every spread (minutes of CPU);
// the field limit, registered before it, measures each fragment once.
func TestFieldLimitFragmentFanOut(t *testing.T) {
	query := fanOut(30, "name")
	start := time.Now()
	resp, calls := limitsPost(t, graph.Options{}, query)
	elapsed := time.Since(start)
	if resp.status != http.StatusOK || len(resp.Errors) != 1 || resp.Errors[0].Extensions["limit"] != "fields" || calls != 0 {
		t.Fatalf("status %d, errors %+v, store calls %d; want one fields refusal", resp.status, resp.Errors, calls)
	}
	const want = "operation selects 1073741825 fields, which exceeds the limit of 1000"
	if msg := resp.Errors[0].Message; msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
	if elapsed >= time.Second {
		t.Errorf("the refusal took %v, want well under a second", elapsed)
	}
	t.Logf("%d-byte query refused in %v (parse, validation and limits)", len(query), elapsed)
}

// TestFieldLimitSaturates: 2^100 fields would overflow an int (to a count
// that passes); the count stops at its cap instead, and the query is
// refused. The extension is called directly: were the count to overflow,
// the query would go on to gqlgen's complexity walk and never return.
func TestFieldLimitSaturates(t *testing.T) {
	doc, err := parser.ParseQuery(&ast.Source{Input: fanOut(100, "name")})
	if err != nil {
		t.Fatal(err)
	}
	oc := &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0]}
	e := (graph.Limits{MaxDepth: 1000, MaxAliases: 1000, MaxFields: 1000}).MutateOperationContext(context.Background(), oc)
	if e == nil || e.Extensions["limit"] != "fields" {
		t.Fatalf("error %v, want a fields refusal", e)
	}
	t.Log(e.Message)
}
