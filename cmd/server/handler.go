package main

import (
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"github.com/headline/headline/cmd/server/internal/api"
	"github.com/headline/headline/cmd/server/internal/telemetry"
	"github.com/headline/headline/store"
)

// newHandler builds the store's services on env as cfg says, and the HTTP
// edge that serves them.
func newHandler(cfg *Config, log *slog.Logger, env *env, tracer trace.TracerProvider, assets *api.PlaygroundAssets) http.Handler {
	cache := store.NewCache(env.rdb, cfg.TTLs).WithBreaker(cfg.Breaker, log).WithTimeout(cfg.Redis.ReadTimeout)
	t := telemetry.Telemetry{Tracer: tracer, RequestLines: cfg.LogRequests}
	var observer store.Observer // not a nil *Metrics: store would call it
	if cfg.Metrics {
		t.Metrics = telemetry.NewMetrics(env.rdb, cache)
		observer = t.Metrics
	}
	d := api.Deps{
		Log:        log,
		Profiles:   store.NewProfiles(env.db, cache, log, store.ProfilesOptions{Observer: observer, Replicas: env.replicas, FreshWindow: cfg.MySQLFreshWindow}),
		Tokens:     api.NewTokenVerifier(cfg.JWTLeeway, env.secret, cfg.JWTSecretPrevious),
		Ready:      api.Readiness{MySQL: env.db, Redis: env.rdb, Breakers: cache},
		Telemetry:  t,
		Playground: assets,
		GraphQL:    cfg.GraphQL,
		Options:    cfg.API,
	}
	d.Options.InFlightWait = cfg.HTTP.ReadTimeout
	if env.replicas != nil {
		d.Ready.Replicas = env.replicas
	}
	if cfg.APQ {
		pq := cfg.PersistedQueries
		pq.Log, pq.Observer = log, observer
		d.APQ = cache.PersistedQueries(pq)
	}
	return api.NewHandler(d)
}
