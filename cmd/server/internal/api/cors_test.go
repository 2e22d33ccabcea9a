package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/storetest"
)

// TestCORS sends what a browser sends, a preflight and then the request,
// and checks the headers the browser decides by.
func TestCORS(t *testing.T) {
	narrowed := newTestServer(t, func(c *testConfig) { c.API.CORSAllowedOrigins = "https://app.example.com, https://*.toutiao.example" })
	anyOrigin := newTestServer(t)
	id := storetest.IDs(t, 1)
	narrowed.ReplaceUsers(t, headline.User{ID: id, Name: fmt.Sprintf("cors-%d", id)})
	for _, tc := range corsCases(narrowed, anyOrigin, id) {
		t.Run(tc.name, tc.check)
	}
}

// corsCase is one request of TestCORS and the answer it wants.
type corsCase struct {
	name       string
	req        *http.Request
	wantStatus int
	wantBody   string // "" for a preflight
	// The CORS response headers, exactly; "" means absent.
	allowOrigin, allowMethods, allowHeaders, maxAge, expose string
}

// corsCases are TestCORS's requests, to narrowed (CORS_ALLOWED_ORIGINS set)
// and anyOrigin (not set), for user id.
func corsCases(narrowed, anyOrigin *testServer, id int64) []corsCase {
	// As a browser lists them (the Fetch standard): lower case, sorted.
	const apolloHeaders = "apollo-require-preflight,apollographql-client-name,apollographql-client-version,authorization,content-type,x-request-id"
	query := fmt.Sprintf(`{ user(id: "%d") { name } }`, id)
	wantBody := fmt.Sprintf(`{"data":{"user":{"name":"cors-%d"}}}`, id)

	preflight := func(s *testServer, origin, method, headers string) *http.Request {
		req, _ := http.NewRequest(http.MethodOptions, s.URL+"/graphql", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", method)
		if headers != "" {
			req.Header.Set("Access-Control-Request-Headers", headers)
		}
		return req
	}
	get := func(s *testServer, origin string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/graphql?query="+url.QueryEscape(query), nil)
		req.Header.Set("Origin", origin)
		return req
	}
	body, _ := json.Marshal(map[string]string{"query": query})
	post := func(s *testServer, origin string) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader(string(body)))
		req.Header.Set("Origin", origin)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer not-a-token")
		req.Header.Set("Apollographql-Client-Name", "web")
		return req
	}

	return []corsCase{
		{
			name: "preflight from an allowed origin with Apollo's headers",
			req:  preflight(narrowed, "https://app.example.com", "POST", apolloHeaders), wantStatus: 204,
			allowOrigin: "https://app.example.com", allowMethods: "POST", allowHeaders: apolloHeaders, maxAge: "7200",
		},
		{
			name: "preflight from an origin the wildcard allows, for a GET",
			req:  preflight(narrowed, "https://m.toutiao.example", "GET", "authorization"), wantStatus: 204,
			allowOrigin: "https://m.toutiao.example", allowMethods: "GET", allowHeaders: "authorization", maxAge: "7200",
		},
		{
			name: "preflight from a disallowed origin gets no grant",
			req:  preflight(narrowed, "https://evil.example", "POST", apolloHeaders), wantStatus: 204,
		},
		{
			name: "preflight for a header not on the list gets no grant",
			req:  preflight(narrowed, "https://app.example.com", "POST", "content-type,x-debug"), wantStatus: 204,
		},
		{
			name: "preflight for DELETE gets no grant",
			req:  preflight(narrowed, "https://app.example.com", "DELETE", ""), wantStatus: 204,
		},
		{
			name: "GET from an allowed origin", req: get(narrowed, "https://app.example.com"),
			wantStatus: 200, wantBody: wantBody, allowOrigin: "https://app.example.com", expose: "X-Request-Id",
		},
		{
			name: "POST from an allowed origin", req: post(narrowed, "https://app.example.com"),
			wantStatus: 200, wantBody: wantBody, allowOrigin: "https://app.example.com", expose: "X-Request-Id",
		},
		{
			// CORS is the browser's to enforce: the server answers, without
			// the header that would let the page read the answer.
			name: "POST from a disallowed origin is answered without a grant", req: post(narrowed, "https://evil.example"),
			wantStatus: 200, wantBody: wantBody,
		},
		{
			name: "default: preflight from any origin",
			req:  preflight(anyOrigin, "https://anything.example:8443", "POST", apolloHeaders), wantStatus: 204,
			allowOrigin: "*", allowMethods: "POST", allowHeaders: apolloHeaders, maxAge: "7200",
		},
		{
			name: "default: POST from any origin", req: post(anyOrigin, "http://localhost:3000"),
			wantStatus: 200, wantBody: wantBody, allowOrigin: "*", expose: "X-Request-Id",
		},
	}
}

func (tc corsCase) check(t *testing.T) {
	resp, err := http.DefaultClient.Do(tc.req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	body := strings.TrimSuffix(string(b), "\n")
	if resp.StatusCode != tc.wantStatus {
		t.Errorf("status %d, want %d", resp.StatusCode, tc.wantStatus)
	}
	if body != tc.wantBody {
		t.Errorf("body %q, want %q", body, tc.wantBody)
	}
	for _, h := range []struct{ name, want string }{
		{"Access-Control-Allow-Origin", tc.allowOrigin},
		{"Access-Control-Allow-Methods", tc.allowMethods},
		{"Access-Control-Allow-Headers", tc.allowHeaders},
		{"Access-Control-Max-Age", tc.maxAge},
		{"Access-Control-Expose-Headers", tc.expose},
		{"Access-Control-Allow-Credentials", ""}, // tokens are headers, not cookies
	} {
		if got := strings.Join(resp.Header.Values(h.name), ","); got != h.want {
			t.Errorf("%s: %q, want %q", h.name, got, h.want)
		}
	}
	if !strings.Contains(resp.Header.Get("Vary"), "Origin") {
		t.Errorf("Vary %q does not name Origin: a shared cache would serve one origin's grant to another", resp.Header.Values("Vary"))
	}
}

// TestCORSPreflightSpellings: a preflight that lists allowed headers in any
// spelling (order, case, spaces, empty elements, duplicates, several header
// lines) is answered as the browser's spelling of the same list is; a list
// with a header not allowed is refused in any spelling.
func TestCORSPreflightSpellings(t *testing.T) {
	s := newTestServer(t, func(c *testConfig) { c.API.CORSAllowedOrigins = "https://app.example.com" })
	const origin = "https://app.example.com"
	preflight := func(t *testing.T, origin string, lines ...string) http.Header {
		t.Helper()
		req, _ := http.NewRequest(http.MethodOptions, s.URL+"/graphql", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		for _, l := range lines {
			req.Header.Add("Access-Control-Request-Headers", l)
		}
		resp, _ := servertest.Send(t, req)
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("status %d, want 204", resp.StatusCode)
		}
		return resp.Header
	}
	// answer is what the browser decides by, with Vary.
	answer := func(h http.Header) string {
		var out []string
		for _, name := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
			"Access-Control-Max-Age", "Access-Control-Allow-Credentials", "Vary"} {
			out = append(out, name+": "+strings.Join(h.Values(name), " | "))
		}
		return strings.Join(out, "\n")
	}
	const apollo = "apollo-require-preflight,apollographql-client-name,apollographql-client-version,authorization,content-type,x-request-id"
	for _, tc := range []struct {
		name    string
		lines   []string // the Access-Control-Request-Headers lines sent
		browser string   // the same list as a browser sends it
		granted bool
	}{
		{"capitalised, unsorted, with a space", []string{"Content-Type, Authorization"}, "authorization,content-type", true},
		{"upper case", []string{"AUTHORIZATION,content-type"}, "authorization,content-type", true},
		{"spaces around every name", []string{" authorization , content-type "}, "authorization,content-type", true},
		{"tabs", []string{"\tauthorization,\tcontent-type\t"}, "authorization,content-type", true},
		{"empty elements", []string{",authorization,,content-type,"}, "authorization,content-type", true},
		{"a name twice, in two cases", []string{"content-type,Authorization,authorization"}, "authorization,content-type", true},
		{"one name per header line", []string{"Content-Type", "Authorization"}, "authorization,content-type", true},
		{"header lines that split a list", []string{"x-request-id, Content-Type", "Authorization"}, "authorization,content-type,x-request-id", true},
		{"one name, capitalised", []string{"Authorization"}, "authorization", true},
		{"Apollo's six, reversed and capitalised", []string{"X-Request-ID, Content-Type, Authorization, Apollographql-Client-Version, Apollographql-Client-Name, Apollo-Require-Preflight"}, apollo, true},
		{"a header not allowed, capitalised", []string{"Content-Type, X-Debug"}, "content-type,x-debug", false},
		{"a header not allowed on a second line", []string{"Authorization", "Cookie"}, "authorization,cookie", false},
		{"a header not allowed, alone", []string{"X-Debug"}, "x-debug", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			granted := preflight(t, origin, tc.lines...)
			if got, want := answer(granted), answer(preflight(t, origin, tc.browser)); got != want {
				t.Errorf("answer to %q:\n%s\nwant the answer to the browser's %q:\n%s", tc.lines, got, tc.browser, want)
			}
			if tc.granted {
				if g := granted.Get("Access-Control-Allow-Headers"); g != tc.browser {
					t.Errorf("Access-Control-Allow-Headers = %q, want %q", g, tc.browser)
				}
				if g := granted.Get("Access-Control-Allow-Origin"); g != origin {
					t.Errorf("Access-Control-Allow-Origin = %q, want %q", g, origin)
				}
			} else if g := granted.Values("Access-Control-Allow-Origin"); len(g) != 0 {
				t.Errorf("Access-Control-Allow-Origin = %q for a list with a header not allowed, want none", g)
			}
			// Whatever the spelling, another origin gets no grant.
			if g := preflight(t, "https://evil.example", tc.lines...).Values("Access-Control-Allow-Origin"); len(g) != 0 {
				t.Errorf("Access-Control-Allow-Origin = %q for an origin not allowed, want none", g)
			}
		})
	}
	t.Run("a list over 1 KiB is left to rs/cors, which refuses it", func(t *testing.T) {
		long := strings.Repeat("authorization, ", 70) // 1050 bytes
		if g := preflight(t, origin, long).Values("Access-Control-Allow-Origin"); len(g) != 0 {
			t.Errorf("Access-Control-Allow-Origin = %q, want none", g)
		}
		if g := preflight(t, origin, long[:1020]).Get("Access-Control-Allow-Headers"); g != "authorization" {
			t.Errorf("under 1 KiB: Access-Control-Allow-Headers = %q, want authorization", g)
		}
	})
}

// BenchmarkCanonicalPreflight measures the spelling fix on a curl-style list,
// on the longest list it rewrites, and on the longest a client can send
// (MaxHeaderBytes), which it leaves alone.
func BenchmarkCanonicalPreflight(b *testing.B) {
	for _, bc := range []struct{ name, list string }{
		{"two names", "Content-Type, Authorization"},
		{"1KiB of names, the most rewritten", strings.Repeat("a,b,", 1<<10/4)},
		{"64KiB of names, left to rs/cors", strings.Repeat("a,b,", 64<<10/4)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodOptions, "http://x/graphql", nil)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", bc.list)
			b.ReportAllocs()
			for b.Loop() {
				canonicalPreflight(req)
			}
		})
	}
}
