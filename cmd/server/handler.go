package main

import (
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"github.com/headline/headline/cmd/server/internal/api"
	"github.com/headline/headline/cmd/server/internal/telemetry"
	"github.com/headline/headline/store"
	"github.com/headline/headline/store/persisted"
	"github.com/headline/headline/store/rediscache"
)

// newHandler builds the store's services on env as cfg says, and the HTTP
// edge that serves them; closeHandler stops their background work.
func newHandler(cfg *Config, log *slog.Logger, env *env, tracer trace.TracerProvider, assets *api.PlaygroundAssets) (_ http.Handler, closeHandler func()) {
	cache := rediscache.New(env.rdb, cfg.TTLs).WithBreaker(cfg.Breaker, log).WithTimeout(cfg.Redis.ReadTimeout)
	t := telemetry.Telemetry{Tracer: tracer, RequestLines: cfg.LogRequests, LocalHits: env.tier != nil}
	if cfg.Metrics {
		t.Metrics = telemetry.NewMetrics(env.rdb, cache)
		if env.tier != nil {
			t.Metrics.WatchLocalTier(env.tier)
		}
	}
	observer := t.Observer()
	profiles := store.NewProfiles(env.db, cache, log, store.ProfilesOptions{Observer: observer, Replicas: env.replicas,
		FreshWindow: cfg.MySQLFreshWindow, Local: env.tier})
	d := api.Deps{
		Log:        log,
		Profiles:   profiles,
		Tokens:     api.NewTokenVerifier(cfg.JWTLeeway, env.secret, cfg.JWTSecretPrevious),
		Ready:      api.Readiness{MySQL: env.db, Redis: env.rdb, Breakers: cache},
		Telemetry:  t,
		Playground: assets,
		GraphQL:    cfg.GraphQL,
		Options:    cfg.API,
	}
	// A request waits for its turn no longer than it may take to be read.
	d.Options.InFlightWait = cfg.HTTP.WithDefaults().ReadTimeout
	if env.replicas != nil {
		d.Ready.Replicas = env.replicas
	}
	if env.tier != nil { // not a nil *store.LocalTier
		d.Ready.Local = env.tier
	}
	if cfg.APQ {
		pq := cfg.PersistedQueries
		pq.Log, pq.Observer = log, observer
		d.APQ = persisted.New(cache.Strings(), pq)
	}
	return api.NewHandler(d), profiles.Close
}
