package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/storetest"
)

// badIDs are ids ParseUserID must refuse, by what is wrong with them.
var badIDs = []struct{ name, id string }{
	{"letters", "abc"},
	{"digits then letters", "21001x"},
	{"a plus sign", "+1"},
	{"a minus sign", "-1"},
	{"zero", "0"},
	{"2^63, one past int64", "9223372036854775808"},
	{"twenty digits", "12345678901234567890"},
	{"a leading space", " 1"},
	{"a trailing space", "1 "},
	{"empty", ""},
	{"a full-width digit", "１"},
	{"a decimal point", "1.5"},
	{"hexadecimal", "0x10"},
}

// settle waits for anything a request set off in the background (a planned
// batch) to reach the counters, so that "no traffic" is not checked too soon.
func settle() { time.Sleep(20 * time.Millisecond) }

// lookups describes the Redis and SQL traffic since resetCounts, "" when
// there was none.
func (s *testServer) lookups() string {
	settle()
	var out []string
	if got := s.RC.RoundTrips(); got != 0 {
		out = append(out, fmt.Sprintf("Redis round trips = %d, want 0: %s", got, s.RC))
	}
	if got := s.SQL.Count("SELECT"); got != 0 {
		out = append(out, fmt.Sprintf("SELECT = %d, want 0: %q", got, s.SQL.Queries()))
	}
	return strings.Join(out, "; ")
}

// requireNoLookups fails t if the server sent Redis or SQL anything since
// resetCounts.
func (s *testServer) requireNoLookups(t *testing.T) {
	t.Helper()
	if l := s.lookups(); l != "" {
		t.Error(l)
	}
}

func TestBadIDsAreRefusedBeforeAnyLookup(t *testing.T) {
	s := newTestServer(t)
	first := storetest.IDs(t, 3)
	s.AddUsers(t, servertest.SeqUsers(first, 3)...)

	type form struct {
		name  string
		query func(bad string) (string, map[string]any)
		path  string // where the error is reported
		field string // the argument it names
		// good says the query also holds good ids; what they cost is
		// TestRefusedListLooksNothingUp's business.
		good bool
	}
	forms := []form{
		{"user(id:) literal", func(bad string) (string, map[string]any) {
			return fmt.Sprintf(`{ user(id: %s) { id } }`, strconv.Quote(bad)), nil
		}, "user", "id", false},
		{"user(id:) variable", func(bad string) (string, map[string]any) {
			return `query($id: ID!) { user(id: $id) { id } }`, map[string]any{"id": bad}
		}, "user", "id", false},
		{"users(ids:) alone", func(bad string) (string, map[string]any) {
			return `query($ids: [ID!]!) { users(ids: $ids) { id } }`, map[string]any{"ids": []string{bad}}
		}, "users", "ids[0]", false},
		{"users(ids:) after two good ids", func(bad string) (string, map[string]any) {
			return fmt.Sprintf(`{ users(ids: ["%d", "%d", %s]) { id } }`, first, first+1, strconv.Quote(bad)), nil
		}, "users", "ids[2]", true},
	}
	for _, f := range forms {
		for _, bad := range badIDs {
			t.Run(fmt.Sprintf("%s with %s is BAD_USER_INPUT naming %s", f.name, bad.name, f.field), func(t *testing.T) {
				q, vars := f.query(bad.id)
				s.ResetCounts()
				r := s.Post(t, q, vars)
				if r.Status != http.StatusOK {
					t.Errorf("status = %d, want 200", r.Status)
				}
				e := r.ErrorAt(t, f.path)
				if got, want := e.Extensions["code"], headline.ECodeBadInput; got != want {
					t.Errorf("extensions.code = %v, want %q", got, want)
				}
				if got, want := e.Extensions["field"], f.field; got != want {
					t.Errorf("extensions.field = %v, want %q", got, want)
				}
				if !strings.HasPrefix(e.Message, f.field+": ") {
					t.Errorf("message = %q, want it to start with %q", e.Message, f.field+": ")
				}
				if len(r.Errors) != 1 {
					t.Errorf("got %d errors, want 1: %s", len(r.Errors), r.Raw)
				}
				if !f.good {
					s.requireNoLookups(t)
				}
			})
		}
	}

	t.Run("a bad id does not spoil a good user field beside it", func(t *testing.T) {
		r := s.Post(t, fmt.Sprintf(`{ bad: user(id: "x") { id } good: user(id: "%d") { name } }`, first+2), nil)
		if got := r.Code("bad"); got != headline.ECodeBadInput {
			t.Errorf("bad: code = %q, want BAD_USER_INPUT: %s", got, r.Raw)
		}
		if u := r.User(t, "good"); u == nil || u.Name != fmt.Sprintf("u%d", first+2) {
			t.Errorf("good = %+v, want user %d", u, first+2)
		}
	})
}

func TestRefusedListLooksNothingUp(t *testing.T) {
	s := newTestServer(t)
	first := storetest.IDs(t, 2)
	s.AddUsers(t, servertest.SeqUsers(first, 2)...)
	for _, tc := range []struct{ name, query string }{
		{"a bad id after good ones", fmt.Sprintf(`{ users(ids: ["%d", "%d", "x"]) { id } }`, first, first+1)},
		{"a bad id before good ones", fmt.Sprintf(`{ users(ids: ["x", "%d", "%d"]) { id } }`, first, first+1)},
	} {
		t.Run(tc.name+" refuses the whole list and looks none of it up", func(t *testing.T) {
			s.ResetCounts()
			r := s.Post(t, tc.query, nil)
			if got := r.Code("users"); got != headline.ECodeBadInput {
				t.Fatalf("code = %q, want BAD_USER_INPUT: %s", got, r.Raw)
			}
			if got := string(r.Data["users"]); got != "" && got != "null" {
				t.Errorf("users = %s, want null: the list is refused whole", got)
			}
			if l := s.lookups(); l != "" {
				t.Errorf("a refused list was looked up: %s", l)
			}
		})
	}
}

func TestIDCountLimit(t *testing.T) {
	s := newTestServer(t)
	first := storetest.IDs(t, 101)
	s.AddUsers(t, servertest.SeqUsers(first, 100)...)
	ids := func(n int) []int64 { return seqIDs(first, n) }

	t.Run("101 ids are BAD_USER_INPUT and look nothing up", func(t *testing.T) {
		s.ResetCounts()
		r := s.Post(t, fmt.Sprintf(`{ users(ids: %s) { id } }`, servertest.IDList(ids(101))), nil)
		e := r.ErrorAt(t, "users")
		if got, want := e.Extensions["code"], headline.ECodeBadInput; got != want {
			t.Errorf("extensions.code = %v, want %q", got, want)
		}
		if got, want := e.Extensions["field"], "ids"; got != want {
			t.Errorf("extensions.field = %v, want %q", got, want)
		}
		if !strings.HasPrefix(e.Message, "ids: ") || !strings.Contains(e.Message, "100") || !strings.Contains(e.Message, "101") {
			t.Errorf("message = %q, want it to name ids, the limit and the count", e.Message)
		}
		s.requireNoLookups(t)
	})

	t.Run("100 ids are served in one batch", func(t *testing.T) {
		s.ResetCounts()
		r := s.Post(t, fmt.Sprintf(`{ users(ids: %s) { id name } }`, servertest.IDList(ids(100))), nil)
		if len(r.Errors) > 0 {
			t.Fatalf("errors: %s", r.Raw)
		}
		got := r.Users(t, "users")
		if len(got) != 100 {
			t.Fatalf("got %d users, want 100", len(got))
		}
		for i, u := range got {
			if want := fmt.Sprint(first + int64(i)); u == nil || u.ID != want {
				t.Fatalf("users[%d] = %+v, want user %s", i, u, want)
			}
		}
		if got := s.RC.Count("MGET"); got != 1 {
			t.Errorf("MGET = %d, want 1", got)
		}
	})

	t.Run("a MAX_IDS of 3 refuses 4 ids", func(t *testing.T) {
		small := newTestServer(t, func(c *testConfig) { c.GraphQL.MaxIDs = 3 })
		small.ResetCounts()
		r := small.Post(t, fmt.Sprintf(`{ users(ids: %s) { id } }`, servertest.IDList(ids(4))), nil)
		if got := r.Code("users"); got != headline.ECodeBadInput {
			t.Errorf("code = %q, want BAD_USER_INPUT: %s", got, r.Raw)
		}
		small.requireNoLookups(t)
	})
}

// aliasedUsers is a query of n aliased user fields, each { name }, of the
// 100 users from first.
func aliasedUsers(first int64, n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " a%d: user(id: \"%d\") { name }", i, first+int64(i%100))
	}
	b.WriteString(" }")
	return b.String()
}

// complexityQuery is a query of complexity 997 plus that of extra: a
// users(ids:) of 100 ids from first (1 + 100×5 = 501) and one of 99 (1 +
// 99×5 = 496), both asking for the five fields. It has few aliases, so only
// the complexity limit can refuse it.
func complexityQuery(first int64, extra string) string {
	return fmt.Sprintf(`{ a: users(ids: %s) { %s } b: users(ids: %s) { %s } %s }`,
		servertest.IDList(seqIDs(first, 100)), userFields, servertest.IDList(seqIDs(first, 99)), userFields, extra)
}

func TestComplexityLimit(t *testing.T) {
	s := newTestServer(t)
	first := storetest.IDs(t, 100)
	last := fmt.Sprintf(`c: user(id: "%d")`, first+99)
	s.AddUsers(t, servertest.SeqUsers(first, 100)...)
	const limit = 1000 // COMPLEXITY_LIMIT's default

	tooComplex := func(complexity int) string {
		return fmt.Sprintf("operation has complexity %d, which exceeds the limit of %d", complexity, limit)
	}

	for _, tc := range []struct {
		name, query, code, msg string
	}{
		{"a query of complexity 1001, one over, is refused with COMPLEXITY_LIMIT_EXCEEDED and looks nothing up",
			complexityQuery(first, last+` { id name photo }`), "COMPLEXITY_LIMIT_EXCEEDED", tooComplex(1001)},
		{"four users(ids:) lists, complexity 1999, is refused with COMPLEXITY_LIMIT_EXCEEDED and looks nothing up",
			complexityQuery(first, fmt.Sprintf(`c: users(ids: %[1]s) { %[2]s } d: users(ids: %[1]s) { %[2]s }`, servertest.IDList(seqIDs(first, 100)), userFields)),
			"COMPLEXITY_LIMIT_EXCEEDED", tooComplex(997 + 2*501)},
		// Thousands of aliased fields never reach the complexity limit:
		// the parser's token limit (2000 tokens) refuses 2000 of them
		// before validation, and the alias limit, which runs before
		// complexity, refuses 120 (about 1,300 tokens).
		{"2000 aliased user fields are refused and look nothing up",
			aliasedUsers(first, 2000), "GRAPHQL_PARSE_FAILED", "exceeded token limit of 2000"},
		{"120 aliased user fields are refused and look nothing up",
			aliasedUsers(first, 120), "GRAPHQL_VALIDATION_FAILED", "operation has 120 aliased fields, which exceeds the limit of 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.wantRequestRefused(t, tc.query, tc.code, tc.msg)
		})
	}

	t.Run("a query of complexity 1000, at the limit, is served in one batch", func(t *testing.T) {
		s.wantComplexityServed(t, first, last)
	})
}

// wantRequestRefused posts query and wants it refused with code and msg
// before any lookup: a request error (the operation never runs), answered
// under application/json with 200 (GraphQL over HTTP; gqlgen said 422).
func (s *testServer) wantRequestRefused(t *testing.T, query, code, msg string) {
	s.ResetCounts()
	r := s.Post(t, query, nil)
	if got, want := r.Status, http.StatusOK; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	if len(r.Errors) != 1 {
		t.Fatalf("got %d errors, want 1: %.300s", len(r.Errors), r.Raw)
	}
	e := r.Errors[0]
	if got := e.Extensions["code"]; got != code {
		t.Errorf("extensions.code = %v, want %q", got, code)
	}
	if got := e.Message; got != msg {
		t.Errorf("message = %q, want %q", got, msg)
	}
	if r.Data != nil {
		t.Errorf("data = %v, want none", r.Data)
	}
	s.requireNoLookups(t)
}

// wantComplexityServed posts complexityQuery with last, a user field of
// first+99, at the complexity limit, and wants it served in one batch.
func (s *testServer) wantComplexityServed(t *testing.T, first int64, last string) {
	s.ResetCounts()
	r := s.Post(t, complexityQuery(first, last+` { id name }`), nil)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("status %d, errors: %.300s", r.Status, r.Raw)
	}
	if got := len(r.Users(t, "a")); got != 100 {
		t.Errorf("a: got %d users, want 100", got)
	}
	if got := len(r.Users(t, "b")); got != 99 {
		t.Errorf("b: got %d users, want 99", got)
	}
	if u := r.User(t, "c"); u == nil || u.Name != fmt.Sprintf("u%d", first+99) {
		t.Errorf("c = %+v, want user %d", u, first+99)
	}
	if got := s.RC.Count("MGET"); got != 1 {
		t.Errorf("MGET = %d, want 1 (%s)", got, s.RC)
	}
}

func seqIDs(first int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = first + int64(i)
	}
	return out
}

func TestTransport(t *testing.T) {
	s := newTestServer(t, func(c *testConfig) { c.API.MaxBodyBytes = 1024 })
	id := storetest.IDs(t, 1)
	served := fmt.Sprintf("served-%d", id)
	s.AddUsers(t, headline.User{ID: id, Name: served})
	small := fmt.Sprintf(`{"query":"{ user(id: \"%d\") { name } }"}`, id)

	t.Run("a POST body over MAX_BODY_BYTES is a 4xx with errors and looks nothing up", func(t *testing.T) {
		s.wantOversizedRefused(t, id, served)
	})

	t.Run("a POST body under MAX_BODY_BYTES is served", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader(small))
		req.Header.Set("Content-Type", "application/json")
		r := servertest.Do(t, req)
		if u := r.User(t, "user"); r.Status != http.StatusOK || u == nil || u.Name != served {
			t.Errorf("status %d, user %+v: %s", r.Status, u, r.Raw)
		}
	})

	t.Run("GET with the query in the URL is served", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/graphql?query="+url.QueryEscape(fmt.Sprintf(`{ user(id: "%d") { id name } }`, id)), nil)
		r := servertest.Do(t, req)
		if r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("status %d: %s", r.Status, r.Raw)
		}
		if u := r.User(t, "user"); u == nil || u.ID != fmt.Sprint(id) || u.Name != served {
			t.Errorf("user = %+v, want user %d", u, id)
		}
	})

	t.Run("GET with a bad id is BAD_USER_INPUT", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/graphql?query="+url.QueryEscape(`{ user(id: "-1") { id } }`), nil)
		s.ResetCounts()
		r := servertest.Do(t, req)
		if got := r.Code("user"); got != headline.ECodeBadInput {
			t.Errorf("code = %q, want BAD_USER_INPUT: %s", got, r.Raw)
		}
		s.requireNoLookups(t)
	})

	t.Run("GET over the complexity limit is refused", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/graphql?query="+url.QueryEscape(complexityQuery(id, fmt.Sprintf(`c: user(id: "%d") { id name photo }`, id))), nil)
		s.ResetCounts()
		r := servertest.Do(t, req)
		if got, want := r.Status, http.StatusOK; got != want {
			t.Errorf("status = %d, want %d", got, want)
		}
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Errorf("want one COMPLEXITY_LIMIT_EXCEEDED error: %.300s", r.Raw)
		}
		s.requireNoLookups(t)
	})

	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
		t.Run(fmt.Sprintf("a POST as %q is a 4xx and looks nothing up", ct), func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader(small))
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			s.ResetCounts()
			status, _, body := servertest.RawResponse(t, req)
			if status < 400 || status > 499 {
				t.Errorf("status = %d, want 4xx: %s", status, body)
			}
			if strings.Contains(body, served) {
				t.Errorf("the request was executed: %s", body)
			}
			s.requireNoLookups(t)
		})
	}
}

// wantOversizedRefused posts a body over MAX_BODY_BYTES (1024) asking for
// user id, named served, and wants it refused with a 4xx before any lookup.
func (s *testServer) wantOversizedRefused(t *testing.T, id int64, served string) {
	body := fmt.Sprintf(`{"query":"{ user(id: \"%d\") { name } }", "variables": {"pad": %q}}`, id, strings.Repeat("x", 2048))
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	s.ResetCounts()
	r := servertest.Do(t, req)
	if len(r.Errors) == 0 {
		t.Errorf("no errors: %s", r.Raw)
	}
	if strings.Contains(r.Raw, served) {
		t.Errorf("the oversized request was executed: %s", r.Raw)
	}
	s.requireNoLookups(t)
	if r.Status < 400 || r.Status > 499 {
		t.Errorf("status = %d, want 4xx (413): %s", r.Status, r.Raw)
	}
}
