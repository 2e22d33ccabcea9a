package main

import (
	"net/http"
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
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: corsHeaders,
		// So that a frontend can read the id to quote in a bug report.
		ExposedHeaders: []string{"X-Request-ID"},
		MaxAge:         corsMaxAge,
	}).Handler(next)
}
