package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/rs/cors"
)

// corsMaxAge is how long a browser may reuse a preflight's answer, in
// seconds: Chromium caps it at 2 hours, and every preflight it saves is a
// round trip before a query.
const corsMaxAge = 7200

// corsHeaders are the request headers a browser's GraphQL client sends:
// the token, the JSON body's type, a request id to trace by, and Apollo
// Client's own (client awareness, and the header Apollo's CSRF prevention
// asks for).
var corsHeaders = []string{
	"Authorization", "Content-Type", "X-Request-ID",
	"Apollographql-Client-Name", "Apollographql-Client-Version", "Apollo-Require-Preflight",
}

// withCORS lets browser frontends on other origins call the API. Tokens
// travel in the Authorization header, never in cookies, so credentials stay
// off and any origin may be allowed: a page can only send a token it already
// holds. allowedOrigins (comma-separated, wildcards as rs/cors takes them)
// narrows that; empty allows any.
func withCORS(allowedOrigins string, next http.Handler) http.Handler {
	var origins []string
	for _, o := range strings.Split(allowedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	if len(origins) == 0 {
		origins = []string{"*"}
	}
	h := cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: corsHeaders,
		// So that a frontend can read the id to quote in a bug report.
		ExposedHeaders: []string{"X-Request-ID"},
		MaxAge:         corsMaxAge,
	}).Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, canonicalPreflight(r))
	})
}

// maxRequestHeadersBytes bounds the Access-Control-Request-Headers that
// canonicalPreflight rewrites. Every allowed header, capitalised and
// separated by ", ", is 124 bytes; 1 KiB leaves room for any spelling a
// client uses, and spares the server sorting 64 KiB (MaxHeaderBytes) of
// names for one preflight (4–7 ms and 2.6 MB, BenchmarkCanonicalPreflight).
const maxRequestHeadersBytes = 1 << 10

// canonicalPreflight returns r with its Access-Control-Request-Headers in
// the form browsers send (the Fetch standard: names lower-cased, sorted,
// joined by commas without spaces), when r is a preflight. rs/cors accepts
// only that form: "Content-Type, Authorization", as proxies, older clients
// and curl spell it, got a 204 without any grant. Names are split on commas
// across all the header's lines, trimmed of spaces and tabs, lower-cased,
// and duplicates and empty ones dropped; the list is then judged, and echoed
// in Access-Control-Allow-Headers, as a browser's would be (browsers compare
// that answer without regard to case). A list over maxRequestHeadersBytes is
// left as sent, for rs/cors to refuse.
func canonicalPreflight(r *http.Request) *http.Request {
	lines, found := r.Header["Access-Control-Request-Headers"]
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" || !found {
		return r
	}
	size := 0
	for _, line := range lines {
		size += len(line)
	}
	if size > maxRequestHeadersBytes {
		return r
	}
	var names []string
	for _, line := range lines {
		for name := range strings.SplitSeq(line, ",") {
			if name = strings.ToLower(strings.Trim(name, " \t")); name != "" {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	canonical := strings.Join(slices.Compact(names), ",")
	if len(lines) == 1 && lines[0] == canonical {
		return r // a browser's: nothing to copy
	}
	r2 := r.WithContext(r.Context()) // a shallow copy: r's header map stays as sent
	r2.Header = r.Header.Clone()
	if canonical == "" {
		r2.Header.Del("Access-Control-Request-Headers")
	} else {
		r2.Header["Access-Control-Request-Headers"] = []string{canonical}
	}
	return r2
}
