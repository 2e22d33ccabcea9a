package api

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

func TestRedisKilled(t *testing.T) {
	rs := storetest.StartRedisServer(t)
	s := newTestServerOnRedis(t, &redis.Options{Addr: rs.Addr})
	first := storetest.IDs(t, 10)
	last := first + 7 // first..last exist; the next two do not
	s.AddUsers(t, servertest.SeqUsers(first, 8)...)
	ids := make([]int64, 10)
	for i := range ids {
		ids[i] = first + int64(i)
	}
	q := fmt.Sprintf(`{ users(ids: %s) { id name } }`, servertest.IDList(ids))
	check := func(t *testing.T, r servertest.Response) {
		t.Helper()
		if len(r.Errors) > 0 {
			t.Fatalf("errors: %s", r.Raw)
		}
		got := r.Users(t, "users")
		for i, u := range got {
			id := ids[i]
			switch {
			case id > last && u != nil:
				t.Errorf("users[%d] = %+v, want null", i, u)
			case id <= last && (u == nil || u.Name != fmt.Sprintf("u%d", id)):
				t.Errorf("users[%d] = %+v, want u%d", i, u, id)
			}
		}
	}
	// Warm the cache as the Flask app would, so that no load of this
	// process is still fresh when Redis dies.
	raw := redis.NewClient(&redis.Options{Addr: rs.Addr})
	for _, id := range ids {
		v := fmt.Sprintf(`{"name": "u%d", "photo": null, "intro": null, "certi": null}`, id)
		if id > last {
			v = "-1"
		}
		raw.Set(context.Background(), fmt.Sprintf("user:%d:info", id), v, time.Hour)
	}
	_ = raw.Close()
	s.ResetCounts()
	check(t, s.Post(t, q, nil))
	if s.SQL.Count("SELECT") != 0 {
		t.Fatalf("warm request ran SQL")
	}

	rs.Kill()
	c := &redisKilled{s: s, rs: rs, ids: ids, q: q, check: check}
	t.Run("with Redis dead every request is answered from MySQL in under 100ms", c.dead)

	rs.Start(t)
	t.Run("once Redis is back the cache refills without a restart", c.back)
}

// redisKilled is TestRedisKilled's server on the Redis rs, its ids (two without a user), their query, and the check of its answer.
type redisKilled struct {
	s     *testServer
	rs    *storetest.RedisServer
	ids   []int64
	q     string
	check func(*testing.T, servertest.Response)
}

func (c *redisKilled) dead(t *testing.T) {
	s, q, check := c.s, c.q, c.check
	s.ResetCounts()
	const n = 20
	for range n {
		start := time.Now()
		check(t, s.Post(t, q, nil))
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("request took %v with Redis dead, want < 100ms", d)
		}
	}
	// The first request loads from MySQL; the others, within the 2s a
	// finished load stays joinable, share it: a dead Redis does not turn
	// into one SELECT per request.
	if got := s.SQL.Count("SELECT"); got != 1 {
		t.Errorf("SELECT = %d for %d requests, want 1", got, n)
	}
	if got := s.RC.Count("SET"); got != 0 {
		t.Errorf("SET = %d: no write-back is tried after a failed read", got)
	}
}

func (c *redisKilled) back(t *testing.T) {
	s, rs, ids, q, check := c.s, c.rs, c.ids, c.q, c.check
	// The first request after the restart may find pooled connections
	// dead (a miss); the cache must be full again within a few.
	raw := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer raw.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		check(t, s.Post(t, q, nil))
		n, err := raw.Exists(context.Background(), rediscache.ProfileKey(ids[0]), rediscache.ProfileKey(ids[9])).Result()
		if err == nil && n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache not refilled 5s after Redis came back (exists=%d, err=%v)", n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.ResetCounts()
	check(t, s.Post(t, q, nil))
	if s.SQL.Count("SELECT") != 0 || s.RC.Count("MGET") != 1 {
		t.Errorf("after refill: SELECT = %d, Redis %s; want 0 and one MGET", s.SQL.Count("SELECT"), s.RC)
	}
}
