package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

// TestRedisCluster runs the server on a 3-master, 3-replica Redis Cluster:
// a batch's keys fall in many slots, so the cache reads with one pipeline
// that go-redis splits into one round trip per master, all at once.
func TestRedisCluster(t *testing.T) {
	rc := storetest.StartRedisCluster(t, 3, 1)
	s, cc, perMaster := serveOnCluster(t, rc)
	sc := s.SQL
	s.AddUsers(t, servertest.SeqUsers(24001, 45)...) // 24046..24050 do not exist
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
	q := fmt.Sprintf(`{ users(ids: %s) { id name } }`, servertest.IDList(ids))
	check := func(t *testing.T, r servertest.Response) {
		t.Helper()
		if len(r.Errors) > 0 {
			t.Fatalf("errors: %s", r.Raw)
		}
		for i, u := range r.Users(t, "users") {
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
			check(t, s.Post(t, q, nil))
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
		clusterEntries(t, cc)
	})
}

// clusterEntries wants the entries TestRedisCluster's batch left on the
// cluster cc as on a single node: profiles and -1 with their TTLs, and no
// lease.
func clusterEntries(t *testing.T, cc *redis.ClusterClient) {
	ctx := context.Background()
	for _, id := range []int64{24001, 24046} {
		v, err := cc.Get(ctx, rediscache.ProfileKey(id)).Result()
		if err != nil {
			t.Fatal(err)
		}
		ttl := cc.TTL(ctx, rediscache.ProfileKey(id)).Val()
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
	if n := cc.Exists(ctx, rediscache.LeaseKey(24001)).Val(); n != 0 {
		t.Errorf("the lease of a filled key is still there")
	}
}

// serveOnCluster serves on the cluster rc, on this package's database with
// its SQL counted, and returns the server's cluster client and a counter of
// the commands it sends to each master, by address.
func serveOnCluster(t *testing.T, rc *storetest.RedisCluster, adjust ...func(*Config)) (*testServer, *redis.ClusterClient, map[string]*storetest.RedisCounter) {
	t.Helper()
	cfg := testConfig(t, append([]func(*Config){func(c *Config) {
		c.Redis.ClusterAddrs = strings.Join(rc.Addrs(), ",")
	}}, adjust...)...)
	rdb, err := rediscache.Open(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("REDIS_CLUSTER_ADDRS gave a %T, want a *redis.ClusterClient", rdb)
	}
	s := serveConfig(t, cfg, storetest.DB(t, "server"), rdb)

	// Load the slot map, then count round trips at each master's client.
	s.Post(t, `{ user(id: "24100") { id } }`, nil)
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
	m := startMasterDown(t)
	t.Logf("killing master %s: %d ids on it, %d on the two others", m.victim.Addr, len(m.dead), len(m.healthy))
	m.victim.Kill()
	m.s.SQL.Reset()

	t.Run("after the dead master failed enough reads to open a breaker, the others still answer from the cache", func(t *testing.T) {
		m.openBreaker(t)
		m.s.SQL.Reset()
		gets := m.healthyGets()
		m.check(t, m.healthy)
		if n := m.selectedHealthy(); n != 0 {
			t.Errorf("%d healthy ids loaded from MySQL, want 0: %q", n, m.s.SQL.Queries())
		}
		if gets = m.healthyGets() - gets; gets != len(m.healthy) {
			t.Errorf("GETs on the healthy masters = %d, want one per key (%d)", gets, len(m.healthy))
		}
	})
	t.Run("under load, every answer is right, the healthy masters' keys are cache hits", m.underLoad)
	t.Run("readyz and metrics name the dead master's breaker", m.reported)

	t.Run("with the dead master's breaker open, updates succeed and a healthy master's entry is invalidated at once", func(t *testing.T) {
		m.openBreaker(t)
		for _, id := range []int64{m.healthy[0], m.dead[0]} {
			name := fmt.Sprintf("renamed %d", id)
			if r := m.s.UpdateMe(t, id, map[string]any{"name": name}); len(r.Errors) > 0 {
				t.Fatalf("updateMe as %d: %s", id, r.Raw)
			}
			m.want[id] = wantUser{name: name, photo: m.want[id].photo}
			m.check(t, []int64{id})
		}
		// What the Flask app reads: the entry is gone, or refilled with the
		// new name; the old one would live until its TTL.
		h := m.healthy[0]
		raw := redis.NewClient(&redis.Options{Addr: m.masterOf[h]})
		defer raw.Close()
		if p, v, ok := servertest.CachedInfo(t, raw, h); ok && p.Name != m.want[h].name {
			t.Errorf("%s = %s after the update, want it invalidated", rediscache.ProfileKey(h), v)
		}
	})
}

// masterDown is a server on a cluster of 3 masters without replicas, 90
// users warm in the cache, and the master to kill.
type masterDown struct {
	s         *testServer
	rc        *storetest.RedisCluster
	perMaster map[string]*storetest.RedisCounter
	victim    *storetest.RedisServer
	// The users' ids on the victim and on the other masters.
	dead, healthy []int64
	isHealthy     map[int64]bool
	masterOf      map[int64]string // each user's master's address
	want          map[int64]wantUser
}

func startMasterDown(t *testing.T) *masterDown {
	t.Helper()
	m := &masterDown{rc: storetest.StartRedisCluster(t, 3, 0), isHealthy: map[int64]bool{}, masterOf: map[int64]string{}, want: map[int64]wantUser{}}
	ctx := context.Background()
	for _, n := range m.rc.Nodes {
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
	var cc *redis.ClusterClient
	m.s, cc, m.perMaster = serveOnCluster(t, m.rc, func(c *Config) { c.Redis.ReadTimeout, c.LogRequests = time.Second, false })
	users := servertest.SeqUsers(24501, 90)
	m.s.AddUsers(t, users...)
	byMaster := map[string][]int64{}
	for _, u := range users {
		m.want[u.ID] = wantUser{name: u.Name, photo: u.Photo}
		c, err := cc.MasterForKey(ctx, rediscache.ProfileKey(u.ID))
		if err != nil {
			t.Fatal(err)
		}
		m.masterOf[u.ID] = c.Options().Addr
		byMaster[c.Options().Addr] = append(byMaster[c.Options().Addr], u.ID)
	}
	for _, n := range m.rc.Nodes {
		if m.victim == nil && len(byMaster[n.Addr]) > 0 {
			m.victim, m.dead = n, byMaster[n.Addr]
			continue
		}
		m.healthy = append(m.healthy, byMaster[n.Addr]...)
	}
	if len(m.dead) == 0 || len(m.healthy) == 0 {
		t.Fatalf("ids by master: %v", byMaster)
	}
	for _, id := range m.healthy {
		m.isHealthy[id] = true
	}
	m.check(t, m.all()) // warm: every key in the cache
	return m
}

// openBreaker reads one of the dead master's ids until its breaker is
// surely open, within its cooldown.
func (m *masterDown) openBreaker(t *testing.T) {
	t.Helper()
	for range 2 * m.s.cfg.Breaker.Failures {
		m.check(t, m.dead[:1])
	}
}

func (m *masterDown) all() []int64 { return append(append([]int64(nil), m.healthy...), m.dead...) }

// check asks for ids in one request and wants each user right.
func (m *masterDown) check(t *testing.T, ids []int64) {
	t.Helper()
	r := m.s.Post(t, fmt.Sprintf(`{ users(ids: %s) { id name } }`, servertest.IDList(ids)), nil)
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %s", r.Raw)
	}
	for i, u := range r.Users(t, "users") {
		if u == nil || u.Name != m.want[ids[i]].name {
			t.Errorf("users[%d] = %+v, want %s", i, u, m.want[ids[i]].name)
		}
	}
}

// healthyGets counts the GETs sent to the healthy masters so far.
func (m *masterDown) healthyGets() (n int) {
	for addr, c := range m.perMaster {
		if addr != m.victim.Addr {
			n += c.Count("GET")
		}
	}
	return n
}

// selectedHealthy counts the healthy ids in the SELECTs run since the SQL
// counter's last reset: each is a key of a healthy master that the cache
// did not answer.
func (m *masterDown) selectedHealthy() (n int) {
	for _, stmt := range m.s.SQL.Queries() {
		for _, id := range m.healthy {
			if strings.Contains(stmt, fmt.Sprint(id)) {
				n++
			}
		}
	}
	return n
}

func (m *masterDown) underLoad(t *testing.T) {
	m.s.SQL.Reset()
	gets := m.healthyGets()
	// Each healthy id asked for is a GET on its master: the loaders are
	// per request, and a request asks for distinct ids. (At least one:
	// once in a few thousand, go-redis sends a command again.)
	var asked atomic.Int64
	mixed := mixedPick(m.all())
	pick := func(r *rand.Rand) []int64 {
		ids := mixed(r)
		for _, id := range ids {
			if m.isHealthy[id] {
				asked.Add(1)
			}
		}
		return ids
	}
	res := load{url: m.s.URL, clients: 8, duration: loadTime(t), pick: pick, judge: expectAll(m.want), seed: 61}.run()
	gets = m.healthyGets() - gets
	t.Logf("load with master %s dead: %v; %d SELECTs; %d GETs on the healthy masters for %d healthy ids asked for",
		m.victim.Addr, res, m.s.SQL.Count("SELECT"), gets, asked.Load())
	requireClean(t, "load with one master dead", res)
	if gets < int(asked.Load()) {
		t.Errorf("GETs on the healthy masters = %d, want one per healthy id asked for (%d)", gets, asked.Load())
	}
	if n := m.selectedHealthy(); n != 0 {
		t.Errorf("%d healthy ids loaded from MySQL during the load, want 0", n)
	}
	if m.s.SQL.Count("SELECT") == 0 {
		t.Errorf("no SELECT during the load: the dead master's ids were not loaded from MySQL")
	}
}

// reported checks that /readyz and /metrics say which master's breaker is
// open (or half-open: its cooldown may have passed since the load).
func (m *masterDown) reported(t *testing.T) {
	deadState := func(st string) bool { return st == "open" || st == "half-open" }
	_, body := servertest.Get(t, m.s.URL+"/readyz")
	var ready map[string]string
	if err := json.Unmarshal([]byte(body), &ready); err != nil {
		t.Fatalf("/readyz: %v: %s", err, body)
	}
	if !deadState(ready["redis_breaker"]) || ready["apq_breaker"] != "closed" {
		t.Errorf("/readyz = %s: want redis_breaker open or half-open, apq_breaker closed", body)
	}
	metrics := servertest.ScrapeMetrics(t, m.s.URL)
	for _, n := range m.rc.Nodes {
		st := ""
		for _, part := range strings.Split(ready["redis_breaker_nodes"], ", ") {
			if addr, state, _ := strings.Cut(part, " "); addr == n.Addr {
				st = state
			}
		}
		v := metrics.Value(t, "headline_redis_node_breaker_state", "breaker", "cache", "node", n.Addr)
		if n == m.victim && (!deadState(st) || v == 0) {
			t.Errorf("dead master %s: /readyz says %q, headline_redis_node_breaker_state %v; want open or half-open (%s)", n.Addr, st, v, body)
		}
		if n != m.victim && (st != "closed" || v != 0) {
			t.Errorf("master %s: /readyz says %q, headline_redis_node_breaker_state %v; want closed (%s)", n.Addr, st, v, body)
		}
	}
	if v := metrics.Value(t, "headline_redis_breaker_state"); v == 0 {
		t.Errorf("headline_redis_breaker_state = 0, want the dead master's open or half-open breaker")
	}
}
