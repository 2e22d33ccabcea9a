package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

// Failover: the server under the fault suite's load (32 clients, judged
// against MySQL) while a Redis master is killed (SIGKILL) and a replica
// takes over — a Redis Cluster's replica promoted by the cluster itself, or
// a Sentinel-managed replica promoted by the sentinels. Every process (the
// MariaDB, the redis-servers, the sentinels) is the test's own, on free
// loopback ports, and stopped by PID when the test ends.
//
// What must hold: no request fails and none is answered wrongly while the
// master is gone (MySQL answers its keys), and once the replica is promoted
// the server uses it: a second pass over the same ids costs no SELECT and
// is read from the new master.

const (
	// failoverLoad is the least one failover load lasts: the master is
	// killed at a third of it and a promotion takes 2–4 s, so that the
	// load also runs for a while on the new master. HEADLINE_SOAK
	// lengthens it, as it does the fault suite's loads.
	failoverLoad = 5 * time.Second
	// failoverWithin bounds the wait for a replica's promotion.
	failoverWithin = 15 * time.Second
)

// newFailoverFault is the fault suite's setting for one failover test: a
// MariaDB of its own holding users 1..suiteUsers; ids from firstMissing on
// have no user.
func newFailoverFault(t *testing.T) *fault {
	t.Helper()
	m := storetest.StartMariaDB(t)
	m.Seed(t, servertest.SeqUsers(1, suiteUsers)...)
	f := &fault{m: m, want: readWant(t, m), d: max(failoverLoad, loadTime(t))}
	if len(f.want) != suiteUsers {
		t.Fatalf("MySQL holds %d users, want %d", len(f.want), suiteUsers)
	}
	return f
}

// failover is what one kill under load measured.
type failover struct {
	res                  loadResult
	killedAt, promotedAt time.Time
	newMaster            string
	// SELECTs MySQL ran before the kill, between the kill and the
	// promotion, and from the promotion to the end of the load.
	selects [3]int64
}

// killUnderLoad runs the fault suite's load against url, calls kill at a
// third of it, then promoted, which returns the new master's address once
// it has taken over, and waits for the load to end.
func (f *fault) killUnderLoad(t *testing.T, url string, seed uint64, kill func(), promoted func() string) failover {
	t.Helper()
	var fo failover
	c0 := f.m.GlobalStatus(t, "Com_select")
	wait := during(load{url: url, duration: f.d, pick: mixedPick(defaultPool()), judge: expectAll(f.want), seed: seed})
	waited := false
	defer func() {
		// promoted gave up (t.Fatal): let the load end before the
		// server and the Redis processes are stopped.
		if !waited {
			wait()
		}
	}()
	time.Sleep(f.d / 3)
	c1 := f.m.GlobalStatus(t, "Com_select")
	fo.killedAt = time.Now()
	kill()
	fo.newMaster = promoted()
	fo.promotedAt = time.Now()
	c2 := f.m.GlobalStatus(t, "Com_select")
	fo.res, waited = wait(), true
	c3 := f.m.GlobalStatus(t, "Com_select")
	fo.selects = [3]int64{c1 - c0, c2 - c1, c3 - c2}
	return fo
}

// log reports the figures of a failover: the whole load, each phase of it
// (requests by when they were sent) and the SELECTs of each phase.
func (fo failover) log(t *testing.T, name string) {
	t.Helper()
	var before, down, after []record
	for _, r := range fo.res.records {
		switch {
		case r.start.Before(fo.killedAt):
			before = append(before, r)
		case r.start.Before(fo.promotedAt):
			down = append(down, r)
		default:
			after = append(after, r)
		}
	}
	t.Logf("%s: master killed at 1/3 of the load, new master %s observed %v after the kill",
		name, fo.newMaster, fo.promotedAt.Sub(fo.killedAt).Round(time.Millisecond))
	t.Logf("%s, whole load: %v", name, fo.res)
	t.Logf("%s, sent before the kill:          %v; SELECTs %d", name, summarize(before), fo.selects[0])
	t.Logf("%s, sent until the promotion:      %v; SELECTs %d", name, summarize(down), fo.selects[1])
	t.Logf("%s, sent after the promotion:      %v; SELECTs %d", name, summarize(after), fo.selects[2])
}

// cacheAgain checks that the cache works again after a promotion: it asks
// for ids until every key is in Redis (warmed counts them), then asks once
// more and wants no SELECT and at least minHits of the keys read on the
// new master (its keyspace_hits). It tries for up to 5s and then fails
// with the last figures; promoted is when the promotion was observed.
// A pass costing no SELECT alone would not prove that the cache answered:
// when the cache cannot be read, a load of the same id that finished in
// the last 2s is joined. The new master's hits do prove it.
func (f *fault) cacheAgain(t *testing.T, url, newMaster string, promoted time.Time, ids []int64, warmed func() (int, error), minHits int) {
	t.Helper()
	raw := redis.NewClient(&redis.Options{Addr: newMaster})
	defer raw.Close()
	began := time.Now()
	deadline := began.Add(margin(5 * time.Second))
	var cached, hits int
	var selects int64
	var err error
	for tries := 1; ; tries++ {
		f.check(t, url, ids)
		if cached, err = warmed(); err == nil && cached == len(ids) {
			hits0 := storetest.RedisInfoInt(t, raw, "stats", "keyspace_hits")
			c0 := f.m.GlobalStatus(t, "Com_select")
			f.check(t, url, ids)
			selects = f.m.GlobalStatus(t, "Com_select") - c0
			hits = storetest.RedisInfoInt(t, raw, "stats", "keyspace_hits") - hits0
			if selects == 0 && hits >= minHits {
				t.Logf("cache works again %v after the promotion was observed (try %d): a second pass over %d ids ran %d SELECTs and read %d keys on the new master %s (at least %d expected)",
					time.Since(promoted).Round(time.Millisecond), tries, len(ids), selects, hits, newMaster, minHits)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("the cache does not work again %v after the promotion (%d tries over %v): %d of %d ids in Redis (err %v); last second pass: %d SELECTs (want 0), %d keys read on the new master %s (want ≥ %d)",
				time.Since(promoted).Round(time.Millisecond), tries, time.Since(began).Round(time.Millisecond), cached, len(ids), err, selects, hits, newMaster, minHits)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id, addr, master string
	flags            []string
	slots            []string
}

func (n clusterNode) is(flag string) bool {
	for _, f := range n.flags {
		if f == flag {
			return true
		}
	}
	return false
}

// clusterNodes reads CLUSTER NODES at addr.
func clusterNodes(ctx context.Context, addr string) ([]clusterNode, error) {
	cl := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	defer cl.Close()
	s, err := cl.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, err
	}
	var out []clusterNode
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		fs := strings.Fields(l)
		if len(fs) < 8 {
			return nil, fmt.Errorf("CLUSTER NODES line %q", l)
		}
		addr, _, _ := strings.Cut(fs[1], "@")
		out = append(out, clusterNode{id: fs[0], addr: addr, flags: strings.Split(fs[2], ","), master: fs[3], slots: fs[8:]})
	}
	return out, nil
}

// TestClusterFailover kills one master of a 3-master, 3-replica Redis
// Cluster under load.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a load of several seconds around a failover; not with -short")
	}
	rc := storetest.StartRedisCluster(t, 3, 1)
	rc.WaitReplicasSynced(t)
	f := newFailoverFault(t)
	ctx := context.Background()

	victim := rc.Masters(t)[0]
	replicaAddr := replicaOf(t, ctx, victim.Addr)
	t.Logf("cluster %v; killing master %s, whose replica is %s", rc.Addrs(), victim.Addr, replicaAddr)

	s := f.serve(t, "", map[string]string{"REDIS_URL": "", "REDIS_CLUSTER_ADDRS": strings.Join(rc.Addrs(), ",")})
	fo := f.killUnderLoad(t, s.url, 40, victim.Kill, func() string { return waitPromoted(t, ctx, replicaAddr) })
	fo.log(t, "cluster")
	requireClean(t, "load across the failover", fo.res)
	t.Logf("breaker state changes logged: %q", breakerLines(s.log.String()))

	var survivors []*storetest.RedisServer
	for _, n := range rc.Nodes {
		if n != victim {
			survivors = append(survivors, n)
		}
	}
	rc.WaitOK(t, survivors)

	// go-redis learns a cluster's slot map again on MOVED or ASK, or
	// every ClusterStateReloadInterval (60s by default); a dead master
	// answers neither, so a failure here says the server still sends the
	// promoted slots to the dead node: their keys stay misses.
	t.Run("after the promotion the cache works again, on the new master", func(t *testing.T) {
		pool := defaultPool()
		res := load{url: s.url, duration: f.d / 5, pick: mixedPick(pool), judge: expectAll(f.want), seed: 41}.run()
		t.Logf("cluster, short load after the promotion: %v", res)
		requireClean(t, "load after the promotion", res)

		// A client of the test's own, with the cluster's present map.
		var addrs []string
		for _, n := range survivors {
			addrs = append(addrs, n.Addr)
		}
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, MaxRetries: -1})
		defer cc.Close()
		warmed := func() (int, error) {
			cmds := make([]*redis.IntCmd, len(pool))
			_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i, id := range pool {
					cmds[i] = p.Exists(ctx, rediscache.ProfileKey(id))
				}
				return nil
			})
			n := 0
			for _, c := range cmds {
				n += int(c.Val())
			}
			return n, err
		}
		onNew := func() (owned, present int) { return keysOn(ctx, fo.newMaster, pool) }
		owned, _ := onNew()
		if owned == 0 {
			t.Fatalf("none of %d keys falls in the promoted node's slots", len(pool))
		}
		f.cacheAgain(t, s.url, fo.newMaster, fo.promotedAt, pool, warmed, owned)
		if o, p := onNew(); p != o {
			t.Errorf("%d of the %d keys in the promoted node's slots are there, want all", p, o)
		} else {
			t.Logf("%d of %d keys live in the promoted node's slots, all present there", o, len(pool))
		}
	})
}

// keysOn counts the profile keys of ids in the slots of the cluster node
// at addr (a GET there answers them, and MOVED for the others), and those
// of them it holds.
func keysOn(ctx context.Context, addr string, ids []int64) (owned, present int) {
	raw := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer raw.Close()
	for _, id := range ids {
		err := raw.Get(ctx, rediscache.ProfileKey(id)).Err()
		switch {
		case err == nil:
			owned++
			present++
		case errors.Is(err, redis.Nil):
			owned++
		}
	}
	return owned, present
}

// replicaOf is the address of the replica of the cluster master at addr.
func replicaOf(t *testing.T, ctx context.Context, addr string) string {
	nodes, err := clusterNodes(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	var victimID, replicaAddr string
	for _, n := range nodes {
		if n.is("myself") {
			victimID = n.id
		}
	}
	for _, n := range nodes {
		if n.is("slave") && n.master == victimID {
			replicaAddr = n.addr
		}
	}
	if victimID == "" || replicaAddr == "" {
		t.Fatalf("no replica of master %s in CLUSTER NODES: %+v", addr, nodes)
	}
	return replicaAddr
}

// waitPromoted waits, up to failoverWithin, for the replica at replicaAddr
// to be promoted: it calls itself a master with slots, and the cluster is
// whole again.
func waitPromoted(t *testing.T, ctx context.Context, replicaAddr string) string {
	deadline := time.Now().Add(failoverWithin)
	for {
		ns, err := clusterNodes(ctx, replicaAddr)
		if err == nil {
			for _, n := range ns {
				if n.is("myself") && n.is("master") && len(n.slots) > 0 {
					return replicaAddr
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s not promoted %v after its master was killed: %v %+v", replicaAddr, failoverWithin, err, ns)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSentinelFailover kills the master of a Sentinel-managed pair (three
// sentinels, quorum 2) under load.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a load of several seconds around a failover; not with -short")
	}
	ss := storetest.StartSentinelSet(t)
	f := newFailoverFault(t)
	ctx := context.Background()
	old, err := ss.MasterAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if old != ss.Master.Addr {
		t.Fatalf("sentinels name %s the master, want %s", old, ss.Master.Addr)
	}
	t.Logf("sentinels %v; master %s, replica %s", ss.Addrs(), ss.Master.Addr, ss.Replica.Addr)

	s := f.serve(t, "", map[string]string{
		"REDIS_URL":             "",
		"REDIS_SENTINEL_ADDRS":  strings.Join(ss.Addrs(), ","),
		"REDIS_SENTINEL_MASTER": storetest.SentinelMaster,
	})
	fo := f.killUnderLoad(t, s.url, 50, ss.Master.Kill, func() string {
		return ss.WaitFailover(t, old, failoverWithin)
	})
	fo.log(t, "sentinel")
	requireClean(t, "load across the failover", fo.res)
	t.Logf("breaker state changes logged: %q", breakerLines(s.log.String()))
	if fo.newMaster != ss.Replica.Addr {
		t.Fatalf("sentinels promoted %s, want the replica %s", fo.newMaster, ss.Replica.Addr)
	}

	t.Run("the server follows the new master and the cache works again", func(t *testing.T) {
		pool := defaultPool()
		res := load{url: s.url, duration: f.d / 5, pick: mixedPick(pool), judge: expectAll(f.want), seed: 51}.run()
		t.Logf("sentinel, short load after the promotion: %v", res)
		requireClean(t, "load after the promotion", res)

		raw := redis.NewClient(&redis.Options{Addr: fo.newMaster})
		defer raw.Close()
		keys := make([]string, len(pool))
		for i, id := range pool {
			keys[i] = rediscache.ProfileKey(id)
		}
		warmed := func() (int, error) {
			n, err := raw.Exists(ctx, keys...).Result()
			return int(n), err
		}
		f.cacheAgain(t, s.url, fo.newMaster, fo.promotedAt, pool, warmed, len(pool))

		var switched string
		for _, l := range strings.Split(s.log.String(), "\n") {
			if strings.Contains(l, "sentinel: new master") && strings.Contains(l, fo.newMaster) {
				switched = l
			}
		}
		if switched == "" {
			t.Errorf("the server log does not say go-redis switched to %s", fo.newMaster)
		} else {
			t.Logf("server log: %s", switched)
		}
	})
}
