package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/headline/headline"
)

// TestCORS sends what a browser sends, a preflight and then the request,
// and checks the headers the browser decides by.
func TestCORS(t *testing.T) {
	// As a browser lists them (the Fetch standard): lower case, sorted.
	const apolloHeaders = "apollo-require-preflight,apollographql-client-name,apollographql-client-version,authorization,content-type,x-request-id"
	narrowed := newTestServer(t, func(c *Config) { c.CORSAllowedOrigins = "https://app.example.com, https://*.toutiao.example" })
	anyOrigin := newTestServer(t)
	narrowed.replaceUsers(t, headline.User{ID: 47101, Name: "cors-47101"})
	query := `{ user(id: "47101") { name } }`
	wantBody := `{"data":{"user":{"name":"cors-47101"}}}`

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

	for _, tc := range []struct {
		name       string
		req        *http.Request
		wantStatus int
		wantBody   string // "" for a preflight
		// The CORS response headers, exactly; "" means absent.
		allowOrigin, allowMethods, allowHeaders, maxAge, expose string
	}{
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
			wantStatus: 200, wantBody: `{"data":{"user":{"name":"cors-47101"}}}`, allowOrigin: "*", expose: "X-Request-Id",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
		})
	}
}
