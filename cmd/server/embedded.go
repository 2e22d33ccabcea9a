package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline/cmd/server/internal/api"
	"github.com/headline/headline/cmd/server/internal/embedded"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/sqldb"
)

// openEmbedded opens the embedded engines, SQLite and an in-process Redis,
// with demo users, and a secret for tokens when JWT_SECRET names none.
func openEmbedded(ctx context.Context, cfg *Config, log *slog.Logger, e *env) error {
	e.mode = "embedded"
	if e.secret == "" {
		e.secret = embedded.RandomSecret()
	}
	var err error
	if e.demoToken, err = api.MintToken(e.secret, 1, 24*time.Hour); err != nil {
		return err
	}
	addr, stop, err := embedded.StartRedis(ctx)
	if err != nil {
		return err
	}
	e.closes = append(e.closes, stop)
	e.rdb = rediscache.NewClient(&redis.Options{Addr: addr}, cfg.Redis.ClientOptions)
	e.closes = append(e.closes, func() { _ = e.rdb.Close() })
	if cfg.LocalCacheSize > 0 {
		// miniredis has no CLIENT TRACKING: the tier would never serve.
		log.Info("local cache off in the embedded mode: its Redis (miniredis) has no CLIENT TRACKING")
	}

	e.db, err = sqldb.OpenSQLite(":memory:")
	if err != nil {
		return err
	}
	e.closes = append(e.closes, func() { _ = e.db.Close() })
	if _, err := sqldb.Migrate(ctx, e.db); err != nil {
		return err
	}
	return embedded.SeedUsers(ctx, e.db, cfg.EmbeddedDemoUsers)
}

// announceEmbedded tells a newcomer where to click and what to send.
func announceEmbedded(log *slog.Logger, addr net.Addr, token string) {
	host := addr.String()
	if tcp, ok := addr.(*net.TCPAddr); ok && (tcp.IP.IsUnspecified() || tcp.IP.IsLoopback()) {
		host = fmt.Sprintf("localhost:%d", tcp.Port)
	}
	log.Info("embedded mode: in-process Redis (miniredis) and SQLite with demo users; nothing is kept",
		"playground", "http://"+host+"/",
		"graphql", "http://"+host+"/graphql")
	log.Info("a token for `me` (user 1, valid 24h): send it as Authorization: Bearer <token>",
		"token", token)
}
