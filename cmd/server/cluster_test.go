package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
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
	s, cc, perMaster := serveOnCluster(t, rc)
	sc := s.sql
	s.addUsers(t, seqUsers(24001, 45)...) // 24046..24050 do not exist
	ctx := context.Background()
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

// serveOnCluster serves on the cluster rc, on this package's database with
// its SQL counted, and returns the server's cluster client and a counter of
// the commands it sends to each master, by address.
func serveOnCluster(t *testing.T, rc *storetest.RedisCluster, adjust ...func(*Config)) (*testServer, *redis.ClusterClient, map[string]*storetest.RedisCounter) {
	t.Helper()
	cfg := testConfig(t, append([]func(*Config){func(c *Config) {
		c.RedisClusterAddrs = strings.Join(rc.Addrs(), ",")
	}}, adjust...)...)
	rdb, err := openRedis(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("REDIS_CLUSTER_ADDRS gave a %T, want a *redis.ClusterClient", rdb)
	}
	base := storetest.DB(t, "server")
	db, sc := storetest.CountSQL(base)
	hs := httptest.NewServer(NewServer(cfg, testLogger(t), db, rdb, newTokenVerifier(testSecret)))
	t.Cleanup(hs.Close)
	s := &testServer{URL: hs.URL, cfg: cfg, base: base, sql: sc}

	// Load the slot map, then count round trips at each master's client.
	s.post(t, `{ user(id: "24100") { id } }`, nil)
	perMaster := map[string]*storetest.RedisCounter{}
	var mu sync.Mutex // ForEachMaster calls back concurrently
	if err := cc.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
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
	return s, cc, perMaster
}

// TestClusterMasterDown kills one master of a 3-master Redis Cluster
// under load and keeps it dead: the cache must go on serving the keys of
// the two healthy masters, and MySQL those of the dead one. The cluster
// has no replicas, so that nothing takes over the dead master's slots, and
// cluster-require-full-coverage is off, so that the healthy masters go on
// answering once they have marked it failed (with it on they would refuse
// every key). In production a replica takes over after
// cluster-node-timeout (15s by default): this is what the cache does until
// then.
func TestClusterMasterDown(t *testing.T) {
	rc := storetest.StartRedisCluster(t, 3, 0)
	ctx := context.Background()
	for _, n := range rc.Nodes {
		cl := redis.NewClient(&redis.Options{Addr: n.Addr})
		err := cl.ConfigSet(ctx, "cluster-require-full-coverage", "no").Err()
		_ = cl.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	// A generous read timeout: a slow answer of a healthy master on a
	// loaded machine must not pass for a failure. The dead master refuses
	// connections at once, so it costs no timeout.
	s, cc, perMaster := serveOnCluster(t, rc, func(c *Config) { c.RedisReadTimeout, c.LogRequests = time.Second, false })
	users := seqUsers(24501, 90)
	s.addUsers(t, users...)
	want := map[int64]wantUser{}
	byMaster := map[string][]int64{}
	for _, u := range users {
		want[u.ID] = wantUser{name: u.Name, photo: u.Photo}
		m, err := cc.MasterForKey(ctx, store.ProfileKey(u.ID))
		if err != nil {
			t.Fatal(err)
		}
		byMaster[m.Options().Addr] = append(byMaster[m.Options().Addr], u.ID)
	}
	var victim *storetest.RedisServer
	var healthy, dead []int64
	for _, n := range rc.Nodes {
		if victim == nil && len(byMaster[n.Addr]) > 0 {
			victim, dead = n, byMaster[n.Addr]
			continue
		}
		healthy = append(healthy, byMaster[n.Addr]...)
	}
	if len(dead) == 0 || len(healthy) == 0 {
		t.Fatalf("ids by master: %v", byMaster)
	}
	all := append(append([]int64(nil), healthy...), dead...)
	q := func(ids []int64) string { return fmt.Sprintf(`{ users(ids: %s) { id name } }`, idList(ids)) }
	check := func(t *testing.T, ids []int64) {
		t.Helper()
		r := s.post(t, q(ids), nil)
		if len(r.Errors) > 0 {
			t.Fatalf("errors: %s", r.Raw)
		}
		for i, u := range r.users(t, "users") {
			if u == nil || u.Name != want[ids[i]].name {
				t.Errorf("users[%d] = %+v, want %s", i, u, want[ids[i]].name)
			}
		}
	}
	check(t, all) // warm: every key in the cache
	t.Logf("killing master %s: %d ids on it, %d on the two others", victim.Addr, len(dead), len(healthy))
	victim.Kill()

	// selectedHealthy counts the healthy ids in the SELECTs run since the
	// last reset: each of them is a key of a healthy master that the cache
	// did not answer.
	selectedHealthy := func() (n int) {
		for _, stmt := range s.sql.Queries() {
			for _, id := range healthy {
				if strings.Contains(stmt, fmt.Sprint(id)) {
					n++
				}
			}
		}
		return n
	}
	s.sql.Reset()
	isHealthy := map[int64]bool{}
	for _, id := range healthy {
		isHealthy[id] = true
	}
	// healthyGets counts the GETs sent to the healthy masters.
	healthyGets := func() (n int) {
		for addr, c := range perMaster {
			if addr != victim.Addr {
				n += c.Count("GET")
			}
		}
		return n
	}

	t.Run("after the dead master failed enough reads to open a breaker, the others still answer from the cache", func(t *testing.T) {
		for range 2 * s.cfg.BreakerFailures {
			check(t, dead[:1])
		}
		s.sql.Reset()
		for _, c := range perMaster {
			c.Reset()
		}
		check(t, healthy)
		if n := selectedHealthy(); n != 0 {
			t.Errorf("%d healthy ids loaded from MySQL, want 0: %q", n, s.sql.Queries())
		}
		if gets := healthyGets(); gets != len(healthy) {
			t.Errorf("GETs on the healthy masters = %d, want one per key (%d)", gets, len(healthy))
		}
	})

	t.Run("under load, every answer is right, the healthy masters' keys are cache hits", func(t *testing.T) {
		s.sql.Reset()
		gets := healthyGets()
		// Each healthy id asked for is a GET on its master: the loaders are
		// per request, and a request asks for distinct ids. (At least one:
		// once in a few thousand, go-redis sends a command again.)
		var asked atomic.Int64
		mixed := mixedPick(all)
		pick := func(r *rand.Rand) []int64 {
			ids := mixed(r)
			for _, id := range ids {
				if isHealthy[id] {
					asked.Add(1)
				}
			}
			return ids
		}
		res := load{url: s.URL, clients: 8, duration: loadTime(t), pick: pick, judge: expectAll(want), seed: 61}.run()
		gets = healthyGets() - gets
		t.Logf("load with master %s dead: %v; %d SELECTs; %d GETs on the healthy masters for %d healthy ids asked for",
			victim.Addr, res, s.sql.Count("SELECT"), gets, asked.Load())
		requireClean(t, "load with one master dead", res)
		if gets < int(asked.Load()) {
			t.Errorf("GETs on the healthy masters = %d, want one per healthy id asked for (%d)", gets, asked.Load())
		}
		if n := selectedHealthy(); n != 0 {
			t.Errorf("%d healthy ids loaded from MySQL during the load, want 0", n)
		}
		if s.sql.Count("SELECT") == 0 {
			t.Errorf("no SELECT during the load: the dead master's ids were not loaded from MySQL")
		}
	})

	t.Run("readyz and metrics name the dead master's breaker", func(t *testing.T) {
		deadState := func(st string) bool { return st == "open" || st == "half-open" }
		_, body := get(t, s.URL+"/readyz")
		var ready map[string]string
		if err := json.Unmarshal([]byte(body), &ready); err != nil {
			t.Fatalf("/readyz: %v: %s", err, body)
		}
		if !deadState(ready["redis_breaker"]) || ready["apq_breaker"] != "closed" {
			t.Errorf("/readyz = %s: want redis_breaker open or half-open, apq_breaker closed", body)
		}
		m := scrapeMetrics(t, s.URL)
		for _, n := range rc.Nodes {
			want := "closed"
			if n == victim {
				want = "open or half-open"
			}
			st := ""
			for _, part := range strings.Split(ready["redis_breaker_nodes"], ", ") {
				if addr, state, _ := strings.Cut(part, " "); addr == n.Addr {
					st = state
				}
			}
			v := m.value(t, "headline_redis_node_breaker_state", "breaker", "cache", "node", n.Addr)
			if n == victim && (!deadState(st) || v == 0) || n != victim && (st != "closed" || v != 0) {
				t.Errorf("master %s: /readyz says %q, headline_redis_node_breaker_state %v; want %s (%s)", n.Addr, st, v, want, body)
			}
		}
		if v := m.value(t, "headline_redis_breaker_state"); v == 0 {
			t.Errorf("headline_redis_breaker_state = 0, want the dead master's open or half-open breaker")
		}
	})
}
