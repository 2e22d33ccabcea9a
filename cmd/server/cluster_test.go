package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline/store"
	"github.com/headline/headline/store/storetest"
)

// TestRedisCluster runs the server on a 3-master, 3-replica Redis Cluster:
// a batch's keys fall in many slots, so the cache reads with one pipeline
// that go-redis splits into one round trip per master, all at once.
func TestRedisCluster(t *testing.T) {
	rc := storetest.StartRedisCluster(t, 3, 1)
	cfg := testConfig(t, func(c *Config) {
		c.RedisClusterAddrs = strings.Join(rc.Addrs(), ",")
	})
	rdb, err := openRedis(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("REDIS_CLUSTER_ADDRS gave a %T, want a *redis.ClusterClient", rdb)
	}
	base := storetest.DB(t, "server")
	db, sc := storetest.CountSQL(base)
	hs := httptest.NewServer(NewServer(cfg, testLogger(t), db, rdb, newTokenVerifier(testSecret)))
	defer hs.Close()
	s := &testServer{URL: hs.URL, cfg: cfg, base: base, sql: sc}
	s.addUsers(t, seqUsers(24001, 45)...) // 24046..24050 do not exist
	ctx := context.Background()

	// Load the slot map, then count round trips at each master's client.
	s.post(t, `{ user(id: "24100") { id } }`, nil)
	perMaster := map[string]*storetest.RedisCounter{}
	var mu sync.Mutex // ForEachMaster calls back concurrently
	if err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		perMaster[c.Options().Addr] = storetest.CountRedis(c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(perMaster) != 3 {
		t.Fatalf("%d masters, want 3", len(perMaster))
	}
	reset := func() {
		for _, c := range perMaster {
			c.Reset()
		}
		sc.Reset()
	}
	ids := make([]int64, 50)
	for i := range ids {
		ids[i] = 24001 + int64(i)
	}
	q := fmt.Sprintf(`{ users(ids: %s) { id name } }`, idList(ids))
	check := func(t *testing.T, r gqlResponse) {
		t.Helper()
		if len(r.Errors) > 0 {
			t.Fatalf("errors: %s", r.Raw)
		}
		for i, u := range r.users(t, "users") {
			id := ids[i]
			if id > 24045 {
				if u != nil {
					t.Errorf("users[%d] = %+v, want null", i, u)
				}
			} else if u == nil || u.Name != fmt.Sprintf("u%d", id) {
				t.Errorf("users[%d] = %+v, want u%d", i, u, id)
			}
		}
	}

	for _, tc := range []struct {
		name      string
		perMaster int // round trips each master sees
		selects   int
	}{
		{"a cold batch of 50: reads, leases and fills are one round trip per master each", 3, 1},
		{"the same batch warm: one round trip per master, no SQL", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reset()
			check(t, s.post(t, q, nil))
			gets := 0
			for addr, c := range perMaster {
				if got := c.RoundTrips(); got != tc.perMaster {
					t.Errorf("master %s: %d round trips, want %d (%s)", addr, got, tc.perMaster, c)
				}
				gets += c.Count("GET")
			}
			if gets != 50 {
				t.Errorf("GETs across masters = %d, want one per key (50)", gets)
			}
			if got := sc.Count("SELECT"); got != tc.selects {
				t.Errorf("SELECT = %d, want %d", got, tc.selects)
			}
		})
	}

	t.Run("entries, sentinels and TTLs are as on a single node", func(t *testing.T) {
		for _, id := range []int64{24001, 24046} {
			v, err := cc.Get(ctx, store.ProfileKey(id)).Result()
			if err != nil {
				t.Fatal(err)
			}
			ttl := cc.TTL(ctx, store.ProfileKey(id)).Val()
			if id == 24046 {
				if v != "-1" || ttl < 298*time.Second || ttl > 359*time.Second {
					t.Errorf("%d: %q TTL %v, want -1 with 300..359s", id, v, ttl)
				}
				continue
			}
			if v != `{"name":"u24001","photo":null,"intro":null,"certi":null}` || ttl < 1798*time.Second || ttl > 2399*time.Second {
				t.Errorf("%d: %q TTL %v", id, v, ttl)
			}
		}
		if n := cc.Exists(ctx, store.LeaseKey(24001)).Val(); n != 0 {
			t.Errorf("the lease of a filled key is still there")
		}
	})
}
