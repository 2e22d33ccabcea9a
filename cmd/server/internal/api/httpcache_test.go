package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/storetest"
)

// answer is what a client saw of one request.
type answer struct {
	status int
	header http.Header
	body   string
}

// gqlParams are a GraphQL request's parameters; an empty query and nil
// variables or extensions are left out.
type gqlParams struct {
	query     string
	vars, ext map[string]any
}

// sendGraphQL sends p to base's /graphql by method (GET: in the query
// string; POST: as a JSON body), with headers (name, value pairs; an empty
// value is not sent).
func sendGraphQL(t testing.TB, method, base string, p gqlParams, headers ...string) answer {
	t.Helper()
	params := map[string]any{}
	if p.query != "" {
		params["query"] = p.query
	}
	if p.vars != nil {
		params["variables"] = p.vars
	}
	if p.ext != nil {
		params["extensions"] = p.ext
	}
	var req *http.Request
	var err error
	if method == http.MethodGet {
		v := url.Values{}
		for k, p := range params {
			if s, ok := p.(string); ok {
				v.Set(k, s)
			} else {
				b, _ := json.Marshal(p)
				v.Set(k, string(b))
			}
		}
		req, err = http.NewRequest(method, base+"/graphql?"+v.Encode(), nil)
	} else {
		b, _ := json.Marshal(params)
		req, err = http.NewRequest(method, base+"/graphql", bytes.NewReader(b))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, body := servertest.Send(t, req)
	return answer{status: resp.StatusCode, header: resp.Header, body: body}
}

// cacheShape is one query shape and the caching its answer must carry.
type cacheShape struct {
	name, method, query string
	vars                map[string]any
	auth                bool   // with the reader's token
	status              int    // 0: 200
	cacheControl        string // the Cache-Control it must carry
	errors              bool   // whether the answer has errors
}

// TestCacheControlOfEachQueryShape sends each shape of query a client
// sends and checks the Cache-Control its answer carries: GET answers of
// user and users (and nothing else) public for CACHE_CONTROL_MAX_AGE, with
// an ETag and Vary: Accept; everything else no-store, the persisted-query
// refusals as Apollo Server answers them.
func TestCacheControlOfEachQueryShape(t *testing.T) {
	s := newTestServer(t)
	first := storetest.IDs(t, 3)
	s.AddUsers(t, servertest.SeqUsers(first, 3)...)
	user := fmt.Sprintf(`{ user(id: "%d") { id name photo intro certi } }`, first)
	users := `query Feed($ids: [ID!]!) { users(ids: $ids) { id name photo } }`
	ids := map[string]any{"ids": []string{fmt.Sprint(first), fmt.Sprint(first + 1), fmt.Sprint(first + 2)}}
	entities := `query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id name } } }`
	reps := map[string]any{"r": []any{map[string]any{"__typename": "User", "id": fmt.Sprint(first)}}}
	public := "max-age=60, public"
	for _, tc := range []cacheShape{
		{name: "user by GET", method: "GET", query: user, cacheControl: public},
		{name: "user by GET with a token: public all the same", method: "GET", query: user, auth: true, cacheControl: public},
		{name: "users by GET", method: "GET", query: users, vars: ids, cacheControl: public},
		{name: "a user that does not exist by GET (null, no error)", method: "GET", query: `{ user(id: "1") { id } }`, cacheControl: public},
		{name: "user and __typename by GET", method: "GET", query: fmt.Sprintf(`{ __typename user(id: "%d") { __typename name } }`, first), cacheControl: public},
		{name: "_entities by GET", method: "GET", query: entities, vars: reps, cacheControl: public},
		{name: "_entities by POST (a gateway's)", method: "POST", query: entities, vars: reps, cacheControl: "no-store"},
		{name: "_service by GET", method: "GET", query: `{ _service { sdl } }`, cacheControl: "no-store"},
		{name: "me by GET", method: "GET", query: `{ me { id name } }`, auth: true, cacheControl: "no-store"},
		{name: "user and me by GET", method: "GET", query: fmt.Sprintf(`{ user(id: "%d") { id } me { id } }`, first), auth: true, cacheControl: "no-store"},
		{name: "me without a token by GET (an error)", method: "GET", query: `{ me { id } }`, cacheControl: "no-store", errors: true},
		{name: "users with an id that is not one (an error)", method: "GET", query: `{ users(ids: ["1", "x"]) { id } }`, cacheControl: "no-store", errors: true},
		{name: "introspection by GET", method: "GET", query: `{ __schema { queryType { name } } }`, cacheControl: "no-store"},
		{name: "__typename alone by GET", method: "GET", query: `{ __typename }`, cacheControl: "no-store"},
		{name: "a query that does not parse by GET", method: "GET", query: `{ user(`, cacheControl: "no-store", errors: true},
		{name: "a query that does not validate by GET", method: "GET", query: `{ user { id } }`, cacheControl: "no-store", errors: true},
		{name: "user by POST", method: "POST", query: user, cacheControl: "no-store"},
		{name: "users by POST", method: "POST", query: users, vars: ids, cacheControl: "no-store"},
		{name: "updateMe by POST", method: "POST", query: `mutation { updateMe(input: {intro: "cached?"}) { id } }`, auth: true, cacheControl: "no-store"},
		{name: "updateMe by GET: 405, Allow: POST", method: "GET", query: `mutation { updateMe(input: {intro: "cached?"}) { id } }`, auth: true, status: http.StatusMethodNotAllowed, cacheControl: "no-store", errors: true},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, s.URL, mustMint(t, first)) })
	}
}

// check sends tc, with token if it is signed in, to the server at base.
func (tc cacheShape) check(t *testing.T, base, token string) {
	var headers []string
	if tc.auth {
		headers = []string{"Authorization", "Bearer " + token}
	}
	a := sendGraphQL(t, tc.method, base, gqlParams{query: tc.query, vars: tc.vars}, headers...)
	wantStatus := tc.status
	if wantStatus == 0 {
		wantStatus = http.StatusOK
	}
	var resp struct {
		Errors []json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal([]byte(a.body), &resp); err != nil {
		t.Fatalf("the answer is not JSON (%v): %d %s", err, a.status, a.body)
	}
	if a.status != wantStatus || (len(resp.Errors) > 0) != tc.errors {
		t.Fatalf("%d %s; want %d, errors %v", a.status, a.body, wantStatus, tc.errors)
	}
	if got := a.header.Get("Cache-Control"); got != tc.cacheControl {
		t.Errorf("Cache-Control %q, want %q (%s)", got, tc.cacheControl, a.body)
	}
	etag := a.header.Get("ETag")
	if cacheable := tc.cacheControl != "no-store"; cacheable != (etag != "") || cacheable != slicesHas(a.header.Values("Vary"), "Accept") {
		t.Errorf("ETag %q, Vary %q: want both only on a cacheable answer", etag, a.header.Values("Vary"))
	}
	if tc.status == http.StatusMethodNotAllowed && a.header.Get("Allow") != http.MethodPost {
		t.Errorf("Allow %q, want POST", a.header.Get("Allow"))
	}
}

func slicesHas(vs []string, v string) bool {
	for _, x := range vs {
		for p := range strings.SplitSeq(x, ",") {
			if strings.TrimSpace(p) == v {
				return true
			}
		}
	}
	return false
}

// TestCacheControlMaxAgeZero: CACHE_CONTROL_MAX_AGE=0 makes user and users
// answers no-store, with no ETag.
func TestCacheControlMaxAgeZero(t *testing.T) {
	s := newTestServer(t, func(c *testConfig) { c.GraphQL.CacheControlMaxAge = 0 })
	a := sendGraphQL(t, http.MethodGet, s.URL, gqlParams{query: `{ user(id: "1") { id } users(ids: ["1"]) { id } }`})
	if a.status != http.StatusOK || a.header.Get("Cache-Control") != "no-store" || a.header.Get("ETag") != "" {
		t.Errorf("%d, Cache-Control %q, ETag %q; want 200, no-store and none", a.status, a.header.Get("Cache-Control"), a.header.Get("ETag"))
	}
}

// TestEdgeErrorsAreNoStore: what the edge refuses before GraphQL (a body
// over MAX_BODY_BYTES) is no-store too.
func TestEdgeErrorsAreNoStore(t *testing.T) {
	s := newTestServer(t, func(c *testConfig) { c.API.MaxBodyBytes = 1024 })
	a := sendGraphQL(t, http.MethodPost, s.URL, gqlParams{query: `{ user(id: "1") { id } }` + strings.Repeat(" ", 2048)})
	if a.status != http.StatusRequestEntityTooLarge || a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("%d, Cache-Control %q; want 413 and no-store", a.status, a.header.Get("Cache-Control"))
	}
}

// TestETagRevalidation: a cacheable answer's ETag, sent back in
// If-None-Match, gets 304 with no body and the same caching headers, as
// long as the answer would be the same bytes; after updateMe it is not,
// and the new profile comes with a new ETag.
func TestETagRevalidation(t *testing.T) {
	s := newTestServer(t)
	id := storetest.IDs(t, 1)
	s.AddUsers(t, servertest.SeqUsers(id, 1)...)
	query := fmt.Sprintf(`{ user(id: "%d") { id name intro } }`, id)
	first := sendGraphQL(t, http.MethodGet, s.URL, gqlParams{query: query})
	etag := first.header.Get("ETag")
	if first.status != http.StatusOK || etag == "" || !strings.HasPrefix(etag, `"`) {
		t.Fatalf("%d, ETag %q: want 200 and a strong ETag", first.status, etag)
	}
	for _, tc := range []struct {
		name, ifNoneMatch, accept string
		want                      int
	}{
		{"the ETag", etag, "", http.StatusNotModified},
		{"the ETag as a weak one", "W/" + etag, "", http.StatusNotModified},
		{"among others", `"x", ` + etag, "", http.StatusNotModified},
		{"*", "*", "", http.StatusNotModified},
		{"another ETag", `"x"`, "", http.StatusOK},
		{"the ETag, under application/graphql-response+json", etag, "application/graphql-response+json", http.StatusNotModified},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := []string{"If-None-Match", tc.ifNoneMatch}
			if tc.accept != "" {
				h = append(h, "Accept", tc.accept)
			}
			a := sendGraphQL(t, http.MethodGet, s.URL, gqlParams{query: query}, h...)
			if a.status != tc.want || a.header.Get("ETag") != etag || a.header.Get("Cache-Control") != "max-age=60, public" || !slicesHas(a.header.Values("Vary"), "Accept") {
				t.Fatalf("%d, ETag %q, Cache-Control %q, Vary %q; want %d with the same caching headers",
					a.status, a.header.Get("ETag"), a.header.Get("Cache-Control"), a.header.Values("Vary"), tc.want)
			}
			if tc.want == http.StatusNotModified && (a.body != "" || a.header.Get("Content-Type") != "") {
				t.Errorf("304 with body %q, Content-Type %q; want neither", a.body, a.header.Get("Content-Type"))
			}
			if tc.want == http.StatusOK && a.body != first.body {
				t.Errorf("body %s, want %s", a.body, first.body)
			}
		})
	}
	t.Run("after updateMe: 200, the new profile and a new ETag", func(t *testing.T) {
		if r := s.UpdateMe(t, id, map[string]any{"intro": "changed"}); len(r.Errors) > 0 {
			t.Fatalf("updateMe: %s", r.Raw)
		}
		a := sendGraphQL(t, http.MethodGet, s.URL, gqlParams{query: query}, "If-None-Match", etag)
		if a.status != http.StatusOK || !strings.Contains(a.body, `"intro":"changed"`) || a.header.Get("ETag") == etag || a.header.Get("ETag") == "" {
			t.Errorf("%d %s, ETag %q; want 200, the new intro, a new ETag", a.status, a.body, a.header.Get("ETag"))
		}
	})
}
