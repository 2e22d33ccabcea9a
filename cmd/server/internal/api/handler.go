// Package api is headline's HTTP edge: one handler for every route
// (GraphQL, the Playground, the health probes, the metrics), with the
// authentication of access tokens, CORS, and the bounds on what a request
// may carry and hold. cmd/server builds what it serves with — the profile
// service, the persisted queries, the token verifier, the telemetry — and
// passes it in as Deps.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/99designs/gqlgen/graphql/playground"

	"github.com/headline/headline/cmd/server/internal/telemetry"
	"github.com/headline/headline/dataloaders"
	"github.com/headline/headline/graph"
)

// Profiles is the profile service: lookups, which each request's loaders
// batch, and updateMe's edits (a *store.Profiles).
type Profiles interface {
	dataloaders.ProfileGetter
	graph.ProfileUpdater
}

// Deps is what the edge serves with.
type Deps struct {
	Log      *slog.Logger // default: slog.Default()
	Profiles Profiles
	// APQ keeps the persisted queries; nil: APQ off.
	APQ       graph.PersistedQueryStore
	Tokens    *TokenVerifier
	Ready     Readiness
	Telemetry telemetry.Telemetry
	// Playground serves the Playground's scripts; nil: the page loads
	// them from a CDN.
	Playground *PlaygroundAssets
	// GraphQL holds the GraphQL handler's limits and caches; NewHandler
	// sets its Log, Profiles, APQ and Extensions.
	GraphQL graph.Options
	Options Options
}

// Options are the edge's own settings.
type Options struct {
	// MaxBodyBytes refuses a larger POST body with 413 (MAX_BODY_BYTES).
	// Zero: DefaultOptions'.
	MaxBodyBytes int64
	// InFlightBytes bounds the GraphQL request bytes held at once
	// (REQUEST_BYTES_IN_FLIGHT); 0: no bound.
	InFlightBytes int64
	// InFlightWait is how long a request waits for its turn within
	// InFlightBytes before a 503 (HTTP_READ_TIMEOUT); 0: as long as its
	// context lasts.
	InFlightWait       time.Duration
	CORSAllowedOrigins string // comma-separated, wildcards as rs/cors takes them; "": any
	ClientIPHeader     string // the header a trusted proxy sets to the client's address; "": the TCP peer
	PlaygroundAuth     string // the Authorization header the Playground starts with
	Loaders            dataloaders.Options
}

// DefaultOptions are the settings' defaults.
var DefaultOptions = Options{MaxBodyBytes: 1 << 20, InFlightBytes: 16 << 20}

// ServerOptions bound the time a connection may take.
type ServerOptions struct {
	ReadHeaderTimeout time.Duration // HTTP_READ_HEADER_TIMEOUT: to read a request's headers
	ReadTimeout       time.Duration // HTTP_READ_TIMEOUT: to read a whole request
	WriteTimeout      time.Duration // HTTP_WRITE_TIMEOUT: to write a response
	IdleTimeout       time.Duration // HTTP_IDLE_TIMEOUT: keep-alive idle time
}

// DefaultServerOptions are what a zero field of ServerOptions means, and the
// settings' defaults. None is "no timeout": a public server must not wait
// on a client for ever.
var DefaultServerOptions = ServerOptions{
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       10 * time.Second,
	WriteTimeout:      15 * time.Second,
	IdleTimeout:       120 * time.Second,
}

// WithDefaults is o with each zero or negative timeout DefaultServerOptions'.
func (o ServerOptions) WithDefaults() ServerOptions {
	d := DefaultServerOptions
	for _, f := range []struct{ v, def *time.Duration }{
		{&o.ReadHeaderTimeout, &d.ReadHeaderTimeout}, {&o.ReadTimeout, &d.ReadTimeout},
		{&o.WriteTimeout, &d.WriteTimeout}, {&o.IdleTimeout, &d.IdleTimeout},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return o
}

// NewServer is the HTTP server of h, with o's timeouts and a 64 KiB bound
// on a request's headers, logging its errors to log.
func NewServer(h http.Handler, o ServerOptions, log *slog.Logger) *http.Server {
	o = o.WithDefaults()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// edge holds what the routes need.
type edge struct{ Deps }

// NewHandler returns the HTTP handler of headline: every route is in routes.
func NewHandler(d Deps) http.Handler {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	d.Log = telemetry.WithRequestIDs(d.Log)
	if d.Options.MaxBodyBytes <= 0 {
		d.Options.MaxBodyBytes = DefaultOptions.MaxBodyBytes
	}
	e := &edge{d}
	mux := http.NewServeMux()
	for _, r := range e.routes() {
		if r.handler != nil {
			mux.Handle(r.pattern, r.handler)
		}
	}
	o, t := d.Options, d.Telemetry
	return closeAfterChunked(t.LogRequests(d.Log, withCORS(o.CORSAllowedOrigins, t.TraceRequests(mux))))
}

// route is one pattern of the mux; a nil handler is a route that is off.
type route struct {
	pattern string
	handler http.Handler
}

func (e *edge) routes() []route {
	gql := e.graphQL()
	if e.APQ != nil { // the only reader of the client's address
		gql = withClientAddr(e.Options.ClientIPHeader, gql)
	}
	loaders := dataloaders.Middleware(e.Profiles, e.Options.Loaders)
	auth := authenticate(e.Tokens)
	inflight := newInFlight(e.Options.InFlightBytes, e.Options.InFlightWait)
	var metrics, assets http.Handler
	if e.Telemetry.Metrics != nil {
		metrics = e.Telemetry.Metrics.Handler()
	}
	if e.Playground != nil {
		assets = e.Playground.serve
	}
	return []route{
		{"GET /graphql", inflight.limitQueryString(limitGETValues(auth(loaders(gql))))},
		{"POST /graphql", limitBody(e.Options.MaxBodyBytes, inflight)(auth(loaders(gql)))},
		{"GET /{$}", e.playgroundPage()},
		{"GET " + playgroundAssetsPath + "{name}", assets},
		{"GET /healthz", http.HandlerFunc(handleHealthz)},
		{"GET /readyz", http.HandlerFunc(e.handleReadyz)},
		{"GET /metrics", metrics},
	}
}

// graphQL is the GraphQL handler on the edge's services, observed by its
// telemetry.
func (e *edge) graphQL() http.Handler {
	opts := e.GraphQL
	opts.Log, opts.Profiles, opts.APQ, opts.Extensions = e.Log, e.Profiles, e.APQ, e.Telemetry.Extensions()
	return graph.NewHandler(opts)
}

// playgroundPage is the Playground, loading its scripts from the server or
// a CDN, with PLAYGROUND_AUTHORIZATION as the header it starts with.
func (e *edge) playgroundPage() http.Handler {
	var opts []playground.GraphiqlConfigOption
	if e.Playground != nil {
		opts = slices.Clone(e.Playground.opts)
	}
	if e.Options.PlaygroundAuth != "" {
		opts = append(opts, playground.WithGraphiqlUiHeaders(map[string]string{"Authorization": e.Options.PlaygroundAuth}))
	}
	return playgroundHandler(opts, e.Playground == nil)
}

// Serve serves srv on ln until ctx ends, then stops srv gracefully,
// giving in-flight requests up to grace.
func Serve(ctx context.Context, log *slog.Logger, srv *http.Server, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}
