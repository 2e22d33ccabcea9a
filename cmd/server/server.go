package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/trace"

	"github.com/headline/headline"
	"github.com/headline/headline/dataloaders"
	"github.com/headline/headline/graph"
	"github.com/headline/headline/store"
	"github.com/headline/headline/store/persisted"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/sqldb"
)

// server holds what the routes need; NewServer wires it.
type server struct {
	cfg      *Config
	log      *slog.Logger
	db       *bun.DB
	rdb      redis.UniversalClient
	cache    *rediscache.Cache
	profiles *store.Profiles
	tokens   *tokenVerifier
	metrics  *metrics             // nil: METRICS off
	tracer   trace.TracerProvider // nil: no tracing
	replicas *sqldb.Replicas      // nil: no MySQL replicas
	// apq keeps the persisted queries; nil: APQ off.
	apq    graph.PersistedQueryStore
	pgOpts []playground.GraphiqlConfigOption
	assets http.Handler // the Playground's scripts; nil: from a CDN
}

// serverOption adds to what NewServer wires what only some deployments have.
type serverOption func(*serverOptions)

type serverOptions struct {
	tracer     trace.TracerProvider // nil: no tracing
	playground []playground.GraphiqlConfigOption
	assets     http.Handler    // the Playground's scripts; nil: the page loads them from a CDN
	replicas   *sqldb.Replicas // nil: db reads from one server
}

// withPlaygroundAssets serves the Playground's scripts from assets, and
// points its page at them with pg.
func withPlaygroundAssets(pg []playground.GraphiqlConfigOption, assets http.Handler) serverOption {
	return func(o *serverOptions) { o.playground, o.assets = pg, assets }
}

// withReplicas tells the profiles that db routes reads to rs (nil: none).
func withReplicas(rs *sqldb.Replicas) serverOption {
	return func(o *serverOptions) { o.replicas = rs }
}

// Server is the HTTP handler of headline; Close stops the background work
// of what it built (the profiles' invalidation retries).
type Server struct {
	http.Handler
	profiles *store.Profiles
}

// Close stops the server's background work; call it once the handler
// serves no more requests.
func (s *Server) Close() { s.profiles.Close() }

// NewServer returns the HTTP handler of headline: every route is in routes.
// With withTracing it adds tracing hooks to rdb.
func NewServer(cfg *Config, log *slog.Logger, db *bun.DB, rdb redis.UniversalClient, tokens *tokenVerifier, opts ...serverOption) *Server {
	log = withRequestIDs(log)
	var o serverOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.tracer != nil {
		var err error
		if db, err = traceClients(o.tracer, db, rdb); err != nil {
			log.Error("Redis calls are not traced", "err", err)
		}
	}
	cache := rediscache.New(rdb, rediscache.TTLs{
		Profile:       cfg.CacheTTL,
		ProfileJitter: cfg.CacheTTLJitter,
		Missing:       cfg.CacheMissingTTL,
		MissingJitter: cfg.CacheMissingJitter,
		Status:        cfg.CacheStatusTTL,
		StatusJitter:  cfg.CacheStatusJitter,
	}).WithBreaker(rediscache.BreakerOptions{Failures: uint32(cfg.BreakerFailures), Cooldown: cfg.BreakerCooldown}, log).
		WithTimeout(cfg.RedisReadTimeout)
	var m *metrics
	var observers []store.Observer // not a nil *metrics: store would call it
	if cfg.Metrics {
		m = newMetrics(rdb, cache)
		observers = append(observers, m)
	}
	if cfg.LogRequests {
		observers = append(observers, requestCounters{})
	}
	observer := store.Observers(observers...)
	popts := store.ProfilesOptions{Observer: observer, Replicas: o.replicas, FreshWindow: cfg.MySQLFreshWindow}
	s := &server{
		cfg:      cfg,
		log:      log,
		db:       db,
		rdb:      rdb,
		cache:    cache,
		profiles: store.NewProfiles(db, cache, log, popts),
		replicas: popts.Replicas,
		tokens:   tokens,
		metrics:  m,
		tracer:   o.tracer,
		pgOpts:   o.playground,
		assets:   o.assets,
	}
	if cfg.APQ {
		s.apq = persisted.New(cache.Strings(), persisted.Options{
			TTL: cfg.APQTTL, LRUSize: cfg.APQCacheSize, LRUBytes: cfg.APQCacheBytes, Log: log, Observer: observer,
			Limits: persisted.Limits{Bytes: cfg.APQRegistrationBytes, PerClient: cfg.APQClientRegistrations},
		})
	}
	mux := http.NewServeMux()
	s.routes(mux)
	h := closeAfterChunked(withClientAddr(cfg.ClientIPHeader, requestLog(log, cfg.LogRequests, withCORS(cfg.CORSAllowedOrigins, s.traceHTTP(mux)))))
	return &Server{Handler: h, profiles: s.profiles}
}

func (s *server) routes(mux *http.ServeMux) {
	gql := graph.NewHandler(graph.Options{
		MaxIDs:          s.cfg.MaxIDs,
		ComplexityLimit: s.cfg.ComplexityLimit,
		MaxDepth:        s.cfg.MaxDepth,
		MaxAliases:      s.cfg.MaxAliases,
		MaxTokens:       s.cfg.MaxTokens,
		MaxFields:       s.cfg.MaxFields,
		QueryCacheSize:  s.cfg.QueryCacheSize,
		QueryCacheBytes: int64(s.cfg.QueryCacheBytes),
		Introspection:   s.cfg.Introspection,
		Log:             s.log,
		Profiles:        s.profiles,
		APQ:             s.apq,
		APQMaxBytes:     s.cfg.APQMaxBytes,
		Extensions:      s.graphqlExtensions(),
	})
	lopts := dataloaders.Options{Wait: s.cfg.LoaderWait}
	if s.metrics != nil {
		gql.Use(s.metrics.graphqlExtension())
	}
	if s.cfg.LogRequests {
		gql.Use(operationLogger{})
	}
	loaders := dataloaders.Middleware(s.profiles, lopts)

	// Only GET answers are cacheable; the persisted-query refusals say so.
	inflight := newInFlight(int64(s.cfg.InFlightBytes), s.cfg.ReadTimeout)
	mux.Handle("GET /graphql", inflight.limitQueryString(limitGETValues(authenticate(s.tokens)(loaders(graph.WithResponseHeaders(gql))))))
	mux.Handle("POST /graphql", limitBody(s.cfg.MaxBodyBytes, inflight)(authenticate(s.tokens)(loaders(gql))))
	pgOpts := s.pgOpts
	if s.cfg.PlaygroundAuth != "" {
		pgOpts = append(pgOpts, playground.WithGraphiqlUiHeaders(map[string]string{"Authorization": s.cfg.PlaygroundAuth}))
	}
	mux.Handle("GET /{$}", playgroundHandler(pgOpts, s.assets == nil))
	if s.assets != nil {
		mux.Handle("GET "+playgroundAssetsPath+"{name}", s.assets)
	}
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	if s.metrics != nil {
		mux.Handle("GET /metrics", s.metrics.handler())
	}
}

// limitBody refuses a request body over n bytes with 413 and a
// GraphQL-shaped error. gqlgen's POST transport would answer a body it
// could not read with 200, so the body is read here, whole: it is small by
// construction, and charged to the in-flight budget f until the request
// is answered (a body of unknown length as n bytes until it has been read).
func limitBody(n int64, f *inFlight) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				tooLarge(w, n)
				return
			}
			want := r.ContentLength
			if want < 0 {
				want = n
			}
			held, ok := f.acquire(r.Context(), requestWeight(want))
			if !ok {
				busy(w)
				return
			}
			defer func() { f.release(held) }()
			body, err := readBody(w, r, n)
			if keep := min(held, requestWeight(int64(len(body)))); keep < held {
				f.release(held - keep)
				held = keep
			}
			if err != nil {
				if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
					tooLarge(w, n)
					return
				}
				writeGraphQLError(w, http.StatusBadRequest, "could not read the request body", headline.ECodeBadInput)
				return
			}
			if tooManyJSONValues(body, maxJSONValues) {
				tooManyValues(w)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			next.ServeHTTP(w, r)
		})
	}
}

// readBody reads r's body of at most n bytes. A body of known length is
// read into one buffer of that length, not the doublings of io.ReadAll
// (which allocate twice the body); a chunked one grows as it comes.
func readBody(w http.ResponseWriter, r *http.Request, n int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, n)
	if r.ContentLength < 0 {
		return io.ReadAll(body)
	}
	buf := make([]byte, r.ContentLength)
	_, err := io.ReadFull(body, buf)
	return buf, err
}

func tooLarge(w http.ResponseWriter, n int64) {
	writeGraphQLError(w, http.StatusRequestEntityTooLarge,
		fmt.Sprintf("the request body is over %d bytes", n), headline.ECodeBadInput)
}

// writeGraphQLError answers outside gqlgen in the shape a GraphQL client
// reads: {"errors":[{"message":…,"extensions":{"code":…}}]}. Its message
// is cut as gqlgen's are, should it ever quote the request.
func writeGraphQLError(w http.ResponseWriter, status int, msg, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": graph.Excerpt(msg), "extensions": map[string]string{"code": code}}},
	})
}

// handleHealthz says the process is alive; it checks nothing else, so an
// orchestrator does not restart a server whose database is down.
func (s *server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// handleReadyz says whether the server can answer: MySQL must answer; a
// Redis that does not is reported as degraded but still ready, since every
// lookup then falls back to MySQL.
func (s *server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	body := map[string]string{"status": "ready", "mysql": "ok", "redis": "ok", "redis_breaker": s.cache.BreakerState()}
	s.breakerDetail(body)
	code := http.StatusOK
	if err := s.db.PingContext(ctx); err != nil {
		s.log.WarnContext(ctx, "readyz: mysql ping failed", "err", err)
		body["status"], body["mysql"] = "unavailable", "down"
		code = http.StatusServiceUnavailable
		// With a replica answering, profile reads go on (all but those of
		// users updated within the fresh window); only updates fail.
		if s.replicas != nil && s.replicas.Ping(ctx) == nil {
			body["status"], code = "degraded", http.StatusOK
		}
	}
	if s.replicas != nil {
		// Informational: without replicas the primary takes the reads.
		var states []string
		for _, st := range s.replicas.States() {
			if st.Reads {
				states = append(states, st.Name+" reads")
			} else {
				states = append(states, st.Name+" out ("+st.Why+")")
			}
		}
		body["mysql_replicas"] = strings.Join(states, ", ")
	}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		s.log.WarnContext(ctx, "readyz: redis ping failed", "err", err)
		body["redis"] = "down"
		if code == http.StatusOK {
			body["status"] = "degraded"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// breakerDetail adds to a /readyz body the persisted queries' breaker and,
// on a cluster, where redis_breaker is the worst of one breaker per master,
// each master's.
func (s *server) breakerDetail(body map[string]string) {
	if s.apq != nil {
		body["apq_breaker"] = s.cache.APQBreakerState()
	}
	var nodes []string
	for _, b := range s.cache.Breakers() {
		if b.Breaker == rediscache.BreakerCache && b.Node != rediscache.AllNodes {
			nodes = append(nodes, b.Node+" "+b.State)
		}
	}
	if len(nodes) > 0 {
		body["redis_breaker_nodes"] = strings.Join(nodes, ", ")
	}
}
