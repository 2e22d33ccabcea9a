package main

import (
	"io"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/cmd/server/internal/telemetry"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

// redisDB is this package's logical Redis database on a real server.
const redisDB = 2

const testSecret = servertest.Secret

// testConfig is the default configuration with a JWT secret, adjusted by
// the given functions.
func testConfig(t testing.TB, adjust ...func(*Config)) *Config {
	t.Helper()
	cfg, err := parseConfig(nil, func(k string) string {
		if k == "JWT_SECRET" {
			return testSecret
		}
		return ""
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range adjust {
		f(cfg)
	}
	return cfg
}

// testServer is the server run builds from cfg, over HTTP, with its SQL
// counted (and its Redis, on the package's Redis).
type testServer struct {
	*servertest.Server
	cfg *Config
}

// newTestServer is the server of the default configuration, adjusted, on
// this package's database and Redis.
func newTestServer(t testing.TB, adjust ...func(*Config)) *testServer {
	t.Helper()
	cfg := testConfig(t, adjust...)
	r := storetest.NewRedis(t, redisDB)
	rdb := rediscache.NewClient(r.Options(), cfg.Redis.ClientOptions)
	t.Cleanup(func() { _ = rdb.Close() })
	s := serveConfig(t, cfg, storetest.DB(t, "server"), rdb)
	s.Redis, s.RC = r, storetest.CountRedis(rdb)
	return s
}

// serveConfig serves what run builds from cfg on base, with its SQL
// counted, and rdb, until the test ends, and then stops its background
// work.
func serveConfig(t testing.TB, cfg *Config, base *bun.DB, rdb redis.UniversalClient) *testServer {
	t.Helper()
	db, sc := storetest.CountSQL(base)
	log := telemetry.WithRequestIDs(servertest.Logger(t))
	h, closeHandler := newHandler(cfg, log, &env{mode: "external", db: db, rdb: rdb, secret: testSecret}, nil, nil)
	t.Cleanup(closeHandler)
	return &testServer{servertest.Serve(t, h, servertest.Server{Base: base, SQL: sc, RDB: rdb}), cfg}
}
