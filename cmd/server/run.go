package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/trace"

	"github.com/headline/headline/cmd/server/internal/api"
	"github.com/headline/headline/cmd/server/internal/gcpace"
	"github.com/headline/headline/cmd/server/internal/telemetry"
	"github.com/headline/headline/store"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/sqldb"
)

// run is the whole program: main only adds the signal context and the exit
// code, so tests run it with their own getenv and a :0 address.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 1 && args[1] == "migrate" {
		return runMigrate(ctx, args[2:], getenv, stdout)
	}
	cfg, err := parseConfig(args[1:], getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.ShowVersion {
		_, err := fmt.Fprintln(stdout, telemetry.ReadBuildInfo())
		return err
	}
	log := telemetry.NewLogger(stdout, cfg.LogLevel, cfg.LogFormat)
	api.WarnShortSecret(log, "JWT_SECRET", cfg.JWTSecret)
	api.WarnShortSecret(log, "JWT_SECRET_PREVIOUS", cfg.JWTSecretPrevious)
	// The runtime read GOGC at start; this applies headline's default when
	// it was not set, and is the same value when it was.
	debug.SetGCPercent(cfg.GCPercent)
	rediscache.LogRedisTo(log)
	sqldb.LogMySQLDriverTo(log)

	tp, err := telemetry.StartTracing(ctx, cfg.Tracing, log)
	if err != nil {
		return err
	}
	var tracer trace.TracerProvider // not a nil *sdktrace.TracerProvider
	if tp != nil {
		tracer = tp
		// After the HTTP server's shutdown: the last requests' spans too.
		defer telemetry.ShutdownTracing(tp, log)
	}
	var assets *api.PlaygroundAssets
	if cfg.PlaygroundAssetsDir != "" {
		if assets, err = api.LocalPlayground(cfg.PlaygroundAssetsDir); err != nil {
			return err
		}
	}

	env, err := openEnv(ctx, cfg, log, tracer)
	if err != nil && ctx.Err() != nil {
		// Stopped while it waited for MySQL or Redis: what was asked.
		log.Info("stopped during start-up", "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer env.close()
	if env.mode == "embedded" && cfg.API.PlaygroundAuth == "" {
		// So that `me` works from the Playground as it opens.
		cfg.API.PlaygroundAuth = "Bearer " + env.demoToken
	}
	h, closeHandler := newHandler(cfg, log, env, tracer, assets)
	// After the HTTP server's shutdown, before Redis and MySQL close.
	defer closeHandler()
	srv := api.NewServer(h, cfg.HTTP, log)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	build := telemetry.ReadBuildInfo()
	log.Info("listening", "addr", ln.Addr().String(), "mode", env.mode,
		"version", build.Version, "revision", build.Revision, "modified", build.Modified)
	if env.mode == "embedded" {
		announceEmbedded(log, ln.Addr(), env.demoToken)
	}

	return api.Serve(ctx, log, srv, ln, cfg.ShutdownTimeout)
}

// env is what the server runs on: a database, a Redis and a JWT secret.
type env struct {
	mode   string // "embedded" or "external"
	db     *bun.DB
	rdb    redis.UniversalClient
	secret string
	// demoToken is a token for user 1, in the embedded mode.
	demoToken string
	// replicas, when MYSQL_REPLICA_DSNS names any, is where db routes reads.
	replicas *sqldb.Replicas
	// tier is the local tier, its tracker running; nil when it is off.
	tier   *store.LocalTier
	closes []func()
}

func (e *env) close() {
	for i := len(e.closes) - 1; i >= 0; i-- {
		e.closes[i]()
	}
}

// openEnv opens MySQL and Redis as configured, or, with neither configured,
// the embedded engines with demo data. Both modes then run the same code:
// go-redis, Bun, the loaders. With a tracer, both clients trace their calls.
func openEnv(ctx context.Context, cfg *Config, log *slog.Logger, tracer trace.TracerProvider) (_ *env, err error) {
	e := &env{mode: "external", secret: cfg.JWTSecret}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if cfg.embedded() {
		err = openEmbedded(ctx, cfg, log, e)
	} else {
		err = openExternal(ctx, cfg, log, e)
	}
	if err != nil {
		return nil, err
	}
	if tracer == nil {
		return e, nil
	}
	if e.db, err = telemetry.TraceClients(tracer, e.db, e.rdb); err != nil {
		log.Error("Redis calls are not traced", "err", err)
	}
	return e, nil
}

// openExternal opens the configured MySQL and Redis, and waits for their
// first answers.
func openExternal(ctx context.Context, cfg *Config, log *slog.Logger, e *env) (err error) {
	if cfg.MySQLDSN == "" || cfg.Redis.Count() == 0 {
		return errors.New("set both MYSQL_DSN and a Redis (REDIS_URL, REDIS_SENTINEL_ADDRS or REDIS_CLUSTER_ADDRS), or neither for the embedded mode")
	}
	if cfg.Redis.Count() > 1 {
		return errors.New("set one of REDIS_URL, REDIS_SENTINEL_ADDRS and REDIS_CLUSTER_ADDRS")
	}
	if cfg.JWTSecret == "" {
		return errors.New("JWT_SECRET is required outside the embedded mode")
	}
	maxLag := cfg.MySQLReplicaMaxLag
	if cfg.MySQLReplicaDSNs != "" && maxLag > 0 && cfg.MySQLFreshWindow <= maxLag {
		// A replica could then still lack an update when its window ends.
		return errors.New("MYSQL_FRESH_WINDOW must exceed MYSQL_REPLICA_MAX_LAG")
	}
	e.db, e.replicas, err = sqldb.OpenMySQLWithReplicas(cfg.MySQLDSN, sqldb.SplitDSNs(cfg.MySQLReplicaDSNs),
		sqldb.PoolOptions{MaxOpen: cfg.MySQLMaxOpen}, replicaOptions(cfg, log))
	if err != nil {
		return err
	}
	e.closes = append(e.closes, func() { _ = e.db.Close() })
	if err := waitForMySQL(ctx, log, e.db, cfg.MySQLDSN); err != nil {
		return err
	}
	if e.rdb, err = rediscache.Open(cfg.Redis); err != nil {
		return err
	}
	e.closes = append(e.closes, func() { _ = e.rdb.Close() })
	if err := waitForRedis(ctx, log, e.rdb, cfg.Redis.Where()); err != nil {
		return err
	}
	return openLocalTier(cfg, log, e)
}

// openLocalTier makes the local tier, unless LOCAL_CACHE_SIZE is 0, and
// starts its tracker on the masters of the configured Redis; the tier
// serves once every master tracks (about a millisecond after the
// connections are up). env's close stops the tracker, after the HTTP
// server and the profiles. The collector's percent then follows the heap
// outside the tier, which stays live (gcpace).
func openLocalTier(cfg *Config, log *slog.Logger, e *env) error {
	opts, err := cfg.Redis.Options()
	if err != nil {
		return err
	}
	tier, stop, err := store.StartLocalTier(cfg.LocalCacheSize, cfg.LocalCacheMaxAge, opts, log)
	if err != nil {
		return fmt.Errorf("LOCAL_CACHE_SIZE, LOCAL_CACHE_MAX_AGE: %w", err)
	}
	e.tier = tier
	e.closes = append(e.closes, stop, gcpace.Start(cfg.GCPercent, cfg.LocalCacheSize, tier.Bytes).Stop)
	log.Info("local cache", "bytes", cfg.LocalCacheSize, "max_age", cfg.LocalCacheMaxAge.String(), "on", tier != nil)
	return nil
}

// replicaOptions are the replicas' settings: MYSQL_REPLICA_MAX_LAG=0 turns
// the lag check off.
func replicaOptions(cfg *Config, log *slog.Logger) sqldb.ReplicaOptions {
	return sqldb.ReplicaOptions{
		MaxLag: cfg.MySQLReplicaMaxLag, NoLagCheck: cfg.MySQLReplicaMaxLag == 0,
		Retry: cfg.MySQLReplicaRetry, Log: log,
	}
}
