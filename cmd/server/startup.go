package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/headline/headline/store/sqldb"
)

// mysqlStartWait bounds start-up's wait for MySQL's first answer. A live
// server answers within milliseconds; one that accepts and says nothing
// (another service on its port, a hung host) is taken for down after this.
// A variable for tests.
var mysqlStartWait = 10 * time.Second

// redisStartWait bounds start-up's wait for Redis. Each try is bounded by
// the dial and read timeouts already; this bounds a cluster's or a
// sentinel's several.
const redisStartWait = 5 * time.Second

// startPatience is how long a start-up step may take before it says what it
// is waiting for.
const startPatience = time.Second

// awaitNoticed runs f with ctx bounded by limit. If f has not returned
// after startPatience, notice is called, once and on this goroutine, so that
// a start that waits says on what. f must return when its context ends.
func awaitNoticed(ctx context.Context, limit time.Duration, notice func(), f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(startPatience):
		notice()
	}
	return <-done
}

// waitForMySQL waits for MySQL's first answer, within mysqlStartWait. A
// configuration MySQL refuses (unknown database, access denied) is an
// error: waiting will not fix it. A MySQL that is down or silent is not:
// the server starts, /readyz says 503, and requests succeed once it answers.
// It returns ctx's error if ctx ends first.
func waitForMySQL(ctx context.Context, log *slog.Logger, db *bun.DB, dsn string) error {
	addr := sqldb.MySQLAddr(dsn)
	err := awaitNoticed(ctx, mysqlStartWait, func() {
		log.Info("start-up is waiting for mysql to answer", "addr", addr, "up_to", mysqlStartWait.String())
	}, func(ctx context.Context) error { return sqldb.PingMySQL(ctx, db) })
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case sqldb.IsMySQLConfigError(err):
		return fmt.Errorf("MYSQL_DSN: mysql at %s refuses it: %w", addr, err)
	case errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("no answer within %v", mysqlStartWait)
	}
	log.Warn("mysql does not answer yet", "addr", addr, "err", err)
	return nil
}

// waitForRedis pings Redis once, within redisStartWait, so that a Redis
// that is down or misconfigured is in the log at start rather than at the
// first request. Not fatal: without Redis every read goes to MySQL. It
// returns ctx's error if ctx ends first.
func waitForRedis(ctx context.Context, log *slog.Logger, rdb redis.UniversalClient, where string) error {
	err := awaitNoticed(ctx, redisStartWait, func() {
		log.Info("start-up is waiting for redis to answer", "redis", where, "up_to", redisStartWait.String())
	}, func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	log.Warn("redis does not answer yet; reads go to mysql until it does", "redis", where, "err", err)
	return nil
}
