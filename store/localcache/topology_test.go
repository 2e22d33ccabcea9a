package localcache

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline/store/storetest"
)

// promotionWithin bounds a replica's promotion and the tracker's move to
// it: a Sentinel or cluster failover takes 2–4 s here (node timeout 1 s).
const promotionWithin = 30 * time.Second

// waitTracking waits until the tracker tracks exactly masters, every one
// up, and the tier is usable.
func waitTracking(t testing.TB, tr *Tracker, tier *Tier[string], masters []string) time.Duration {
	t.Helper()
	slices.Sort(masters)
	return storetest.WaitUntil(t, "tracking on "+strings.Join(masters, ","), promotionWithin, func() bool {
		m := tr.Masters()
		for _, up := range m {
			if !up {
				return false
			}
		}
		return tier.Usable() && slices.Equal(slices.Sorted(maps.Keys(m)), masters)
	})
}

func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a master and waits for the sentinels' failover; not with -short")
	}
	s := storetest.StartSentinelSet(t)
	o := &redis.UniversalOptions{MasterName: storetest.SentinelMaster, Addrs: s.Addrs(), DialTimeout: time.Second, ReadTimeout: time.Second}
	tier := newTier(t, Options[string]{})
	tr := track(t, tier, o)
	waitTracking(t, tr, tier, []string{s.Master.Addr})
	ctx := context.Background()
	master := redis.NewClient(&redis.Options{Addr: s.Master.Addr, Protocol: 2})
	defer master.Close()
	k := Key{ID: 1, Kind: Info}
	set(t, tier, master, k, "v1", 0)
	fill(t, tier, master, k)
	// The replica must hold v1 before the kill, or it is promoted without.
	if n, err := master.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n < 1 {
		t.Fatalf("WAIT 1: %d replicas have the writes (%v), want 1", n, err)
	}

	flushes := tier.Stats().Flushes
	s.Master.Kill()
	storetest.WaitUntil(t, "the tier to stop", evictWithin, func() bool { return !tier.Usable() })
	newAddr := s.WaitFailover(t, s.Master.Addr, promotionWithin)
	took := waitTracking(t, tr, tier, []string{newAddr})
	t.Logf("the sentinels promoted %s; the tier tracks it %v later", newAddr, took)
	if v, hit := tier.Get(k); hit {
		t.Errorf("Get = %q from before the failover", v)
	}
	if s := tier.Stats(); s.Flushes < flushes+2 {
		t.Errorf("stats %+v: want a flush on the loss and one on the new master", s)
	}

	promoted := redis.NewClient(&redis.Options{Addr: newAddr, Protocol: 2})
	defer promoted.Close()
	if v := fill(t, tier, promoted, k); v != "v1" {
		t.Errorf("the new master holds %q, want v1", v)
	}
	start := time.Now()
	if err := promoted.Set(ctx, k.RedisKey(), "v2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	evicted(t, tier, k, start, "a SET on the promoted master")
}

// clusterKeys returns one key per master, keyed by master address.
func clusterKeys(t testing.TB, cc *redis.ClusterClient, masters []string) map[string]Key {
	t.Helper()
	out := map[string]Key{}
	for id := int64(1); len(out) < len(masters) && id < 1000; id++ {
		k := Key{ID: id, Kind: Info}
		c, err := cc.MasterForKey(context.Background(), k.RedisKey())
		if err != nil {
			t.Fatal(err)
		}
		if addr := c.Options().Addr; out[addr] == (Key{}) {
			out[addr] = k
		}
	}
	if len(out) != len(masters) {
		t.Fatalf("keys on %d masters, want %d: %v", len(out), len(masters), out)
	}
	return out
}

// writesEvict fills each key through cc, then writes it from outside
// through cc and waits for its eviction.
func writesEvict(t *testing.T, tier *Tier[string], cc *redis.ClusterClient, keys map[string]Key, what string) {
	t.Helper()
	ctx := context.Background()
	for _, addr := range slices.Sorted(maps.Keys(keys)) {
		k := keys[addr]
		set(t, tier, cc, k, "v", 0)
		fill(t, tier, cc, k)
		start := time.Now()
		if err := cc.Set(ctx, k.RedisKey(), "w", 0).Err(); err != nil {
			t.Fatal(err)
		}
		evicted(t, tier, k, start, what+", a SET on master "+addr)
	}
}

func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 6-node cluster and waits for a failover; not with -short")
	}
	rc := storetest.StartRedisCluster(t, 3, 1)
	rc.WaitReplicasSynced(t)
	var masters []string
	for _, n := range rc.Masters(t) {
		masters = append(masters, n.Addr)
	}
	o := &redis.UniversalOptions{Addrs: rc.Addrs()[:1], IsClusterMode: true, DialTimeout: time.Second, ReadTimeout: time.Second}
	tier := newTier(t, Options[string]{})
	tr := track(t, tier, o)
	waitTracking(t, tr, tier, masters)
	// The Flask app's client, and headline's reader.
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs(), Protocol: 2})
	defer cc.Close()
	keys := clusterKeys(t, cc, masters)

	t.Run("a write on each master evicts", func(t *testing.T) {
		writesEvict(t, tier, cc, keys, "cluster")
	})

	t.Run("a slot moved to another master: its writes there evict, with no flush", func(t *testing.T) {
		src := masters[0]
		dst := masters[1]
		k := keys[src]
		set(t, tier, cc, k, "v", 0)
		fill(t, tier, cc, k)
		flushes := tier.Stats().Flushes
		moveSlot(t, k.RedisKey(), src, dst, masters)
		evicted(t, tier, k, time.Now(), "MIGRATE of its slot")
		cc.ReloadState(context.Background())
		writesEvict(t, tier, cc, map[string]Key{dst: k}, "after resharding")
		if s := tier.Stats(); s.Flushes != flushes || !s.Usable {
			t.Errorf("stats %+v: resharding flushed or stopped the tier", s)
		}
	})

	t.Run("a master killed: the tier stops, then tracks the promoted replica", func(t *testing.T) {
		failOver(t, rc, tier, tr, cc, masters[2], keys[masters[2]])
	})
}

// failOver fills k, kills master victimAddr (k's), waits for its replica's promotion and the
// tier's tracking of it, and checks that writes on every master evict.
func failOver(t *testing.T, rc *storetest.RedisCluster, tier *Tier[string], tr *Tracker, cc *redis.ClusterClient, victimAddr string, k Key) {
	t.Helper()
	victim := rc.Node(victimAddr)
	if victim == nil {
		t.Fatalf("no node %s in the cluster", victimAddr)
	}
	set(t, tier, cc, k, "v", 0)
	fill(t, tier, cc, k)
	victim.Kill()
	storetest.WaitUntil(t, "the tier to stop", evictWithin, func() bool { return !tier.Usable() })
	var after []string
	storetest.WaitUntil(t, "a replica promoted", promotionWithin, func() bool {
		after = nil
		for _, n := range rc.Masters(t) {
			after = append(after, n.Addr)
		}
		return len(after) == 3
	})
	took := waitTracking(t, tr, tier, after)
	t.Logf("masters %v after the kill of %s; tracked %v after the promotion was seen", after, victim.Addr, took)
	if v, hit := tier.Get(k); hit {
		t.Errorf("Get = %q from before the failover", v)
	}
	var live []*storetest.RedisServer
	for _, n := range rc.Nodes {
		if n != victim {
			live = append(live, n)
		}
	}
	rc.WaitOK(t, live)
	var keys map[string]Key
	storetest.WaitUntil(t, "the reading client to learn the promotion", promotionWithin, func() bool {
		cc.ReloadState(context.Background())
		keys = clusterKeys(t, cc, after)
		_, stale := keys[victim.Addr]
		return !stale
	})
	writesEvict(t, tier, cc, keys, "after the failover")
}

// moveSlot moves the slot of key from master src to master dst as
// redis-cli --cluster reshard does: IMPORTING, MIGRATING, MIGRATE of its
// keys, then the new owner told to every master.
func moveSlot(t testing.TB, key, src, dst string, masters []string) {
	t.Helper()
	ctx := context.Background()
	node := func(addr string) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	s, d := node(src), node(dst)
	slot, err := s.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	srcID, err := s.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		t.Fatal(err)
	}
	dstID, err := d.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(d.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err())
	must(s.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err())
	ks, err := s.ClusterGetKeysInSlot(ctx, int(slot), 1000).Result()
	must(err)
	host, port, _ := strings.Cut(dst, ":")
	args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
	for _, k := range ks {
		args = append(args, k)
	}
	must(s.Do(ctx, args...).Err())
	for _, m := range masters {
		must(node(m).Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
	}
	t.Logf("slot %d (%d keys) moved from %s to %s", slot, len(ks), src, dst)
}

// TestReplicaNotTracked: a node that is not a master (a demoted master, a
// replica the sentinels or the cluster name before it is promoted) is not
// tracked, since its invalidations lag the writes reads see; once it is
// promoted, it is.
func TestReplicaNotTracked(t *testing.T) {
	primary := storetest.StartRedisServer(t)
	_, port, _ := strings.Cut(primary.Addr, ":")
	replica := storetest.StartRedisServer(t, "--replicaof", "127.0.0.1", port)
	tier := newTier(t, Options[string]{})
	tr, err := NewTracker(tier, TrackerOptions{Redis: &redis.UniversalOptions{Addrs: []string{replica.Addr}}, Ping: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	time.Sleep(500 * time.Millisecond) // several handshakes refused
	if tier.Usable() {
		t.Fatal("the tier is usable on a replica's tracking")
	}
	c := redis.NewClient(&redis.Options{Addr: replica.Addr})
	defer c.Close()
	if err := c.SlaveOf(context.Background(), "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	took := storetest.WaitUntil(t, "the tier to be usable on the promoted node", usableWithin, tier.Usable)
	t.Logf("usable %v after the promotion", took)
}
