package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

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
		_, err := fmt.Fprintln(stdout, readBuildInfo())
		return err
	}
	log := newLogger(cfg, stdout)
	warnShortSecrets(log, cfg)
	// The runtime read GOGC at start; this applies headline's default when
	// it was not set, and is the same value when it was.
	debug.SetGCPercent(cfg.GCPercent)
	// go-redis logs pool trouble (failed dials) on its own; send it to the
	// same structured log. Its logger is process-wide.
	redis.SetLogger(redisLog{log})
	sqldb.LogMySQLDriverTo(log)

	opts, stopTracing, err := startOptions(ctx, cfg, log)
	if err != nil {
		return err
	}
	// After the HTTP server's shutdown: the last requests' spans too.
	defer stopTracing()

	env, err := openEnv(ctx, cfg, log)
	if err != nil && ctx.Err() != nil {
		// Stopped while it waited for MySQL or Redis: what was asked.
		log.Info("stopped during start-up", "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer env.close()

	if env.mode == "embedded" && cfg.PlaygroundAuth == "" {
		// So that `me` works from the Playground as it opens.
		if tok, err := mintToken(env.secret, 1, 24*time.Hour); err == nil {
			cfg.PlaygroundAuth = "Bearer " + tok
		}
	}
	h := NewServer(cfg, log, env.db, env.rdb, newTokenVerifierWith(cfg.JWTLeeway, env.secret, cfg.JWTSecretPrevious),
		append(opts, withReplicas(env.replicas))...)
	// After the HTTP server's shutdown, before Redis and MySQL close.
	defer h.Close()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	build := readBuildInfo()
	log.Info("listening", "addr", ln.Addr().String(), "mode", env.mode,
		"version", build.Version, "revision", build.Revision, "modified", build.Modified)
	if env.mode == "embedded" {
		announceEmbedded(log, ln.Addr(), env.secret)
	}

	return serveUntilDone(ctx, log, srv, ln, cfg.ShutdownTimeout)
}

// startOptions starts what the server's options need before it serves:
// tracing, if configured (stopTracing flushes and stops it), and the
// Playground's local files.
func startOptions(ctx context.Context, cfg *Config, log *slog.Logger) (opts []serverOption, stopTracing func(), err error) {
	tp, err := startTracing(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	stopTracing = func() {}
	if tp != nil {
		stopTracing = func() { shutdownTracing(tp, log) }
		opts = append(opts, withTracing(tp))
	}
	if cfg.PlaygroundAssetsDir != "" {
		pg, assets, err := localPlayground(cfg.PlaygroundAssetsDir)
		if err != nil {
			stopTracing()
			return nil, nil, err
		}
		opts = append(opts, withPlaygroundAssets(pg, assets))
	}
	return opts, stopTracing, nil
}

// serveUntilDone serves on ln until ctx ends, then stops srv gracefully,
// giving in-flight requests up to grace.
func serveUntilDone(ctx context.Context, log *slog.Logger, srv *http.Server, ln net.Listener, grace time.Duration) error {
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

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// redisLog adapts go-redis's logger to slog.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

// env is what the server runs on: a database, a Redis and a JWT secret.
type env struct {
	mode   string // "embedded" or "external"
	db     *bun.DB
	rdb    redis.UniversalClient
	secret string
	// replicas, when MYSQL_REPLICA_DSNS names any, is where db routes reads.
	replicas *sqldb.Replicas
	closes   []func()
}

func (e *env) close() {
	for i := len(e.closes) - 1; i >= 0; i-- {
		e.closes[i]()
	}
}

// openEnv opens MySQL and Redis as configured, or, with neither configured,
// the embedded engines with demo data. Both modes then run the same code:
// go-redis, Bun, the loaders.
func openEnv(ctx context.Context, cfg *Config, log *slog.Logger) (_ *env, err error) {
	e := &env{mode: "external", secret: cfg.JWTSecret}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if cfg.embedded() {
		return e, openEmbedded(ctx, cfg, e)
	}
	if cfg.MySQLDSN == "" || cfg.redisTopologies() == 0 {
		return nil, errors.New("set both MYSQL_DSN and a Redis (REDIS_URL, REDIS_SENTINEL_ADDRS or REDIS_CLUSTER_ADDRS), or neither for the embedded mode")
	}
	if cfg.redisTopologies() > 1 {
		return nil, errors.New("set one of REDIS_URL, REDIS_SENTINEL_ADDRS and REDIS_CLUSTER_ADDRS")
	}
	if cfg.JWTSecret == "" {
		return nil, errors.New("JWT_SECRET is required outside the embedded mode")
	}
	maxLag := cfg.MySQLReplicaMaxLag
	if cfg.MySQLReplicaDSNs != "" && maxLag > 0 && cfg.MySQLFreshWindow <= maxLag {
		// A replica could then still lack an update when its window ends.
		return nil, errors.New("MYSQL_FRESH_WINDOW must exceed MYSQL_REPLICA_MAX_LAG")
	}
	e.db, e.replicas, err = sqldb.OpenMySQLWithReplicas(cfg.MySQLDSN, sqldb.SplitDSNs(cfg.MySQLReplicaDSNs),
		sqldb.PoolOptions{MaxOpen: cfg.MySQLMaxOpen}, replicaOptions(cfg, log))
	if err != nil {
		return nil, err
	}
	e.closes = append(e.closes, func() { _ = e.db.Close() })
	if err := waitForMySQL(ctx, log, e.db, cfg.MySQLDSN); err != nil {
		return nil, err
	}
	if e.rdb, err = openRedis(cfg); err != nil {
		return nil, err
	}
	e.closes = append(e.closes, func() { _ = e.rdb.Close() })
	if err := waitForRedis(ctx, log, e.rdb, redisWhere(cfg)); err != nil {
		return nil, err
	}
	return e, nil
}

// replicaOptions are the replicas' settings: MYSQL_REPLICA_MAX_LAG=0 turns
// the lag check off.
func replicaOptions(cfg *Config, log *slog.Logger) sqldb.ReplicaOptions {
	return sqldb.ReplicaOptions{
		MaxLag: cfg.MySQLReplicaMaxLag, NoLagCheck: cfg.MySQLReplicaMaxLag == 0,
		Retry: cfg.MySQLReplicaRetry, Log: log,
	}
}

func openEmbedded(ctx context.Context, cfg *Config, e *env) error {
	e.mode = "embedded"
	if e.secret == "" {
		e.secret = randomSecret()
	}
	mr, stop, err := startMiniredis(ctx)
	if err != nil {
		return err
	}
	e.closes = append(e.closes, stop)
	e.rdb = newRedis(&redis.Options{Addr: mr.Addr()}, cfg)
	e.closes = append(e.closes, func() { _ = e.rdb.Close() })

	e.db, err = sqldb.OpenSQLite(":memory:")
	if err != nil {
		return err
	}
	e.closes = append(e.closes, func() { _ = e.db.Close() })
	if _, err := sqldb.Migrate(ctx, e.db); err != nil {
		return err
	}
	return seedDemoUsers(ctx, e.db, cfg.EmbeddedDemoUsers)
}

// tuned applies the server's Redis settings to o, for any topology.
// go-redis's defaults (5 s timeouts, 3 retries, 5 dial attempts) would make a
// dead Redis cost seconds per request; here a failure costs one short timeout
// and is a cache miss. A cluster's redirects (MOVED/ASK, while slots move or a
// replica is promoted) are still followed.
func tuned(cfg *Config, o redis.UniversalOptions) *redis.UniversalOptions {
	o.DialTimeout = cfg.RedisDialTimeout
	o.ReadTimeout = cfg.RedisReadTimeout
	o.WriteTimeout = cfg.RedisWriteTimeout
	o.PoolTimeout = cfg.RedisReadTimeout + cfg.RedisDialTimeout
	o.MaxRetries = -1
	o.DialerRetries = 1
	o.MaxRedirects = 3
	// The cache bounds each call with a context deadline (pool wait
	// included); go-redis honours it only when told to.
	o.ContextTimeoutEnabled = true
	if cfg.RedisPoolSize > 0 {
		// A hard cap: a hung Redis must not make the pool dial past it.
		o.PoolSize, o.MaxActiveConns = cfg.RedisPoolSize, cfg.RedisPoolSize
	}
	return &o
}

// newRedis is a client on one node, as opt names it, with the server's
// settings.
func newRedis(opt *redis.Options, cfg *Config) *redis.Client {
	return redis.NewClient(tuned(cfg, redis.UniversalOptions{
		Addrs: []string{opt.Addr}, DB: opt.DB, Username: opt.Username, Password: opt.Password,
		TLSConfig: opt.TLSConfig, Protocol: opt.Protocol,
	}).Simple())
}

// openRedis connects to the configured topology with go-redis's own
// clients: a Sentinel-managed master follows failovers, a cluster routes
// each key to its node.
func openRedis(cfg *Config) (redis.UniversalClient, error) {
	split := func(s string) []string {
		var out []string
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				out = append(out, a)
			}
		}
		return out
	}
	switch {
	case cfg.RedisClusterAddrs != "":
		return redis.NewClusterClient(tuned(cfg, redis.UniversalOptions{Addrs: split(cfg.RedisClusterAddrs)}).Cluster()), nil
	case cfg.RedisSentinelAddrs != "":
		if cfg.RedisSentinelMaster == "" {
			return nil, errors.New("REDIS_SENTINEL_ADDRS needs REDIS_SENTINEL_MASTER")
		}
		return redis.NewFailoverClient(tuned(cfg, redis.UniversalOptions{
			MasterName: cfg.RedisSentinelMaster, Addrs: split(cfg.RedisSentinelAddrs),
		}).Failover()), nil
	default:
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, errors.New("REDIS_URL: want redis://[user:pass@]host:port[/db] or rediss://…")
		}
		return newRedis(opt, cfg), nil
	}
}

// redisWhere names the configured Redis for logs, without the password a
// REDIS_URL may hold.
func redisWhere(cfg *Config) string {
	switch {
	case cfg.RedisClusterAddrs != "":
		return "cluster " + cfg.RedisClusterAddrs
	case cfg.RedisSentinelAddrs != "":
		return "master " + cfg.RedisSentinelMaster + " of sentinels " + cfg.RedisSentinelAddrs
	}
	if opt, err := redis.ParseURL(cfg.RedisURL); err == nil {
		return opt.Addr
	}
	return ""
}

// announceEmbedded tells a newcomer where to click and what to send.
func announceEmbedded(log *slog.Logger, addr net.Addr, secret string) {
	host := addr.String()
	if tcp, ok := addr.(*net.TCPAddr); ok && (tcp.IP.IsUnspecified() || tcp.IP.IsLoopback()) {
		host = fmt.Sprintf("localhost:%d", tcp.Port)
	}
	token, err := mintToken(secret, 1, 24*time.Hour)
	if err != nil {
		log.Error("mint demo token", "err", err)
		return
	}
	log.Info("embedded mode: in-process Redis (miniredis) and SQLite with demo users; nothing is kept",
		"playground", "http://"+host+"/",
		"graphql", "http://"+host+"/graphql")
	log.Info("a token for `me` (user 1, valid 24h): send it as Authorization: Bearer <token>",
		"token", token)
}
