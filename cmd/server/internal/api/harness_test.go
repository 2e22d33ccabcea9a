package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/trace"

	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/cmd/server/internal/telemetry"
	"github.com/headline/headline/graph"
	"github.com/headline/headline/store"
	"github.com/headline/headline/store/persisted"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

// redisDB is this package's logical Redis database on a real server.
const redisDB = 9

const testSecret = servertest.Secret

// testConfig is what a test server is built from: the settings cmd/server
// passes on to the store, the GraphQL handler and the edge, and the
// telemetry it turns on.
type testConfig struct {
	API              Options
	GraphQL          graph.Options
	Redis            rediscache.ClientOptions
	Breaker          rediscache.BreakerOptions
	APQ              bool
	PersistedQueries persisted.Options
	Metrics          bool
	LogRequests      bool
	Tracer           trace.TracerProvider // nil: no tracing
	Playground       *PlaygroundAssets
	Log              *slog.Logger     // nil: the test's output
	Local            *store.LocalTier // nil: no local tier, as in every test before it
}

// newTestConfig is the configuration of a server started with no settings
// (the defaults of cmd/server's settings table), adjusted by the given
// functions.
func newTestConfig(adjust ...func(*testConfig)) *testConfig {
	c := &testConfig{
		API:         DefaultOptions,
		GraphQL:     graph.DefaultOptions,
		Redis:       rediscache.DefaultClientOptions,
		Breaker:     rediscache.DefaultBreakerOptions,
		APQ:         true,
		Metrics:     true,
		LogRequests: true,
	}
	c.GraphQL.Introspection = true
	c.API.InFlightWait = DefaultServerOptions.ReadTimeout // HTTP_READ_TIMEOUT
	for _, f := range adjust {
		f(c)
	}
	return c
}

// testServer is the whole server over HTTP, on this package's database and
// a Redis of its own, with the round trips to both counted.
type testServer struct {
	*servertest.Server
	cfg *testConfig
}

func newTestServer(t testing.TB, adjust ...func(*testConfig)) *testServer {
	t.Helper()
	return newTestServerOnRedis(t, nil, adjust...)
}

// newTestServerOnRedis is newTestServer on a Redis of the test's own that
// opt names; nil: the package's.
func newTestServerOnRedis(t testing.TB, opt *redis.Options, adjust ...func(*testConfig)) *testServer {
	t.Helper()
	cfg := newTestConfig(adjust...)
	base := storetest.DB(t, "api")
	db, sc := storetest.CountSQL(base)
	var r *storetest.Redis
	if opt == nil {
		r = storetest.NewRedis(t, redisDB)
		opt = r.Options()
	}
	rdb := rediscache.NewClient(opt, cfg.Redis)
	t.Cleanup(func() { _ = rdb.Close() })
	rc := storetest.CountRedis(rdb)
	h := newTestHandler(t, cfg, db, rdb)
	return &testServer{servertest.Serve(t, h, servertest.Server{Base: base, SQL: sc, Redis: r, RDB: rdb, RC: rc}), cfg}
}

// newTestHandler builds the store's services on db and rdb as cmd/server
// does, and the edge that serves them, and stops their background work when
// the test ends. With a tracer, the clients trace their calls, as cmd/server
// makes them where it opens them.
func newTestHandler(t testing.TB, cfg *testConfig, db *bun.DB, rdb redis.UniversalClient) http.Handler {
	t.Helper()
	log := cfg.Log
	if log == nil {
		log = servertest.Logger(t)
	}
	log = telemetry.WithRequestIDs(log)
	if cfg.Tracer != nil {
		var err error
		if db, err = telemetry.TraceClients(cfg.Tracer, db, rdb); err != nil {
			t.Fatal(err)
		}
	}
	cache := rediscache.New(rdb, rediscache.TTLs{}).WithBreaker(cfg.Breaker, log).WithTimeout(cfg.Redis.ReadTimeout)
	tel := telemetry.Telemetry{Tracer: cfg.Tracer, RequestLines: cfg.LogRequests, LocalHits: cfg.Local != nil}
	if cfg.Metrics {
		tel.Metrics = telemetry.NewMetrics(rdb, cache)
		if cfg.Local != nil {
			tel.Metrics.WatchLocalTier(cfg.Local)
		}
	}
	observer := tel.Observer()
	profiles := store.NewProfiles(db, cache, log, store.ProfilesOptions{Observer: observer, Local: cfg.Local})
	// Before the clients close (cleanups run last first): no invalidation
	// retried in the background outlives the test.
	t.Cleanup(profiles.Close)
	d := Deps{
		Log:        log,
		Profiles:   profiles,
		Tokens:     NewTokenVerifier(DefaultTokenLeeway, testSecret),
		Ready:      Readiness{MySQL: db, Redis: rdb, Breakers: cache},
		Telemetry:  tel,
		Playground: cfg.Playground,
		GraphQL:    cfg.GraphQL,
		Options:    cfg.API,
	}
	if cfg.Local != nil {
		d.Ready.Local = cfg.Local
	}
	if cfg.APQ {
		pq := cfg.PersistedQueries
		pq.Log, pq.Observer = log, observer
		d.APQ = persisted.New(cache.Strings(), pq)
	}
	return NewHandler(d)
}

// serveFromServer serves h from the http.Server NewServer makes (its bound
// on headers), as cmd/server does, until the test ends, and returns its URL.
func serveFromServer(t testing.TB, h http.Handler) string {
	t.Helper()
	hs := httptest.NewUnstartedServer(h)
	hs.Config = NewServer(h, ServerOptions{}, servertest.Logger(t))
	hs.Start()
	t.Cleanup(hs.Close)
	return hs.URL
}

// runNode runs `node script` in dir, with env added to the test's, for at
// most within, and decodes each line it printed as a T, failing t if the
// script fails or prints a line that is not one. It returns the lines, and
// what the script printed to stdout and stderr, for failure messages.
func runNode[T any](t *testing.T, node, dir, script string, within time.Duration, env ...string) (lines []T, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\nstdout:\n%s\nstderr:\n%s", script, err, out, errOut.String())
	}
	t.Logf("node %s ran %v", script, time.Since(start).Round(time.Millisecond))
	for line := range strings.Lines(string(out)) {
		var l T
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("%s printed %q: %v\nstderr:\n%s", script, line, err, errOut.String())
		}
		lines = append(lines, l)
	}
	return lines, string(out), errOut.String()
}
