package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

// newTestServerOnRedis is newTestServer on a Redis of the test's own.
func newTestServerOnRedis(t testing.TB, opt *redis.Options, adjust ...func(*Config)) *testServer {
	t.Helper()
	cfg := testConfig(t, adjust...)
	base := storetest.DB(t, "server")
	db, sc := storetest.CountSQL(base)
	rdb := newRedis(opt, cfg)
	t.Cleanup(func() { _ = rdb.Close() })
	rc := storetest.CountRedis(rdb)
	hs := serveTest(t, NewServer(cfg, testLogger(t), db, rdb, newTokenVerifier(testSecret)))
	return &testServer{URL: hs.URL, cfg: cfg, base: base, sql: sc, rdb: rdb, rc: rc}
}

func TestRedisKilled(t *testing.T) {
	rs := storetest.StartRedisServer(t)
	s := newTestServerOnRedis(t, &redis.Options{Addr: rs.Addr})
	s.addUsers(t, seqUsers(5001, 8)...) // 5001..5008; 5009 and 5010 do not exist
	q := `{ users(ids: ["5001","5002","5003","5004","5005","5006","5007","5008","5009","5010"]) { id name } }`
	check := func(t *testing.T, r gqlResponse) {
		t.Helper()
		if len(r.Errors) > 0 {
			t.Fatalf("errors: %s", r.Raw)
		}
		got := r.users(t, "users")
		for i, u := range got {
			id := 5001 + i
			switch {
			case id > 5008 && u != nil:
				t.Errorf("users[%d] = %+v, want null", i, u)
			case id <= 5008 && (u == nil || u.Name != fmt.Sprintf("u%d", id)):
				t.Errorf("users[%d] = %+v, want u%d", i, u, id)
			}
		}
	}
	// Warm the cache as the Flask app would, so that no load of this
	// process is still fresh when Redis dies.
	raw := redis.NewClient(&redis.Options{Addr: rs.Addr})
	for id := 5001; id <= 5010; id++ {
		v := fmt.Sprintf(`{"name": "u%d", "photo": null, "intro": null, "certi": null}`, id)
		if id > 5008 {
			v = "-1"
		}
		raw.Set(context.Background(), fmt.Sprintf("user:%d:info", id), v, time.Hour)
	}
	_ = raw.Close()
	s.resetCounts()
	check(t, s.post(t, q, nil))
	if s.sql.Count("SELECT") != 0 {
		t.Fatalf("warm request ran SQL")
	}

	rs.Kill()
	t.Run("with Redis dead every request is answered from MySQL in under 100ms", func(t *testing.T) {
		s.resetCounts()
		const n = 20
		for range n {
			start := time.Now()
			check(t, s.post(t, q, nil))
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("request took %v with Redis dead, want < 100ms", d)
			}
		}
		// The first request loads from MySQL; the others, within the 2s a
		// finished load stays joinable, share it: a dead Redis does not turn
		// into one SELECT per request.
		if got := s.sql.Count("SELECT"); got != 1 {
			t.Errorf("SELECT = %d for %d requests, want 1", got, n)
		}
		if got := s.rc.Count("SET"); got != 0 {
			t.Errorf("SET = %d: no write-back is tried after a failed read", got)
		}
	})

	rs.Start(t)
	t.Run("once Redis is back the cache refills without a restart", func(t *testing.T) {
		// The first request after the restart may find pooled connections
		// dead (a miss); the cache must be full again within a few.
		raw := redis.NewClient(&redis.Options{Addr: rs.Addr})
		defer raw.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			check(t, s.post(t, q, nil))
			n, err := raw.Exists(context.Background(), rediscache.ProfileKey(5001), rediscache.ProfileKey(5010)).Result()
			if err == nil && n == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cache not refilled 5s after Redis came back (exists=%d, err=%v)", n, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		s.resetCounts()
		check(t, s.post(t, q, nil))
		if s.sql.Count("SELECT") != 0 || s.rc.Count("MGET") != 1 {
			t.Errorf("after refill: SELECT = %d, Redis %s; want 0 and one MGET", s.sql.Count("SELECT"), s.rc)
		}
	})
}
