package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline"
	"github.com/headline/headline/store"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

// promotionWithin bounds a failover and the tier's tracking of the new
// master: 2–4 s here (node timeout and down-after 1 s).
const promotionWithin = 30 * time.Second

// TestLocalTierSentinelFailover: the master is killed; the tier stops at
// once, tracks the promoted replica once the sentinels agree, and an
// outside write on it shows in the answers within 200 ms.
func TestLocalTierSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a master and waits for the sentinels' failover; not with -short")
	}
	s := storetest.StartSentinelSet(t)
	e := newTierEnv(t, redis.UniversalOptions{MasterName: storetest.SentinelMaster, Addrs: s.Addrs()}, store.ProfilesOptions{})
	uid := storetest.IDs(t, 1)
	e.insert(t, headline.User{ID: uid, Name: fmt.Sprintf("u%d", uid)})
	key := store.Key{ID: uid, WithStatus: true}
	e.warm(t, key)
	master := redis.NewClient(&redis.Options{Addr: s.Master.Addr})
	defer master.Close()
	// The replica must hold the entries before the kill.
	if n, err := master.Do(context.Background(), "WAIT", 1, 5000).Int(); err != nil || n < 1 {
		t.Fatalf("WAIT 1: %d replicas have the writes (%v), want 1", n, err)
	}
	s.Master.Kill()
	storetest.WaitUntil(t, "the tier stopped", 5*time.Second, func() bool { return !e.tier.Usable() })
	promoted := s.WaitFailover(t, s.Master.Addr, promotionWithin)
	took := storetest.WaitUntil(t, "the tier usable on the promoted master", promotionWithin, e.tier.Usable)
	t.Logf("the sentinels promoted %s; the tier usable %v later", promoted, took)
	afterFailover(t, e, key, redis.NewClient(&redis.Options{Addr: promoted}))
}

// afterFailover checks the tier on the new master: warm again, it makes no
// round trip, and an outside write on the new master shows within 200 ms.
func afterFailover(t *testing.T, e *tierEnv, key store.Key, newMaster *redis.Client) {
	t.Helper()
	defer newMaster.Close()
	want := fmt.Sprintf("[u%d]", key.ID)
	if got := fmt.Sprint(e.lookup(key)); got != want {
		t.Fatalf("answers %s after the failover, want %s", got, want)
	}
	e.warm(t, key)
	e.reset()
	e.lookup(key)
	wantTraffic(t, e, 0, 0, nil)
	if err := newMaster.Set(context.Background(), rediscache.ProfileKey(key.ID),
		`{"name": "flask", "photo": null, "intro": null, "certi": null}`, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	took := e.answersWithin(t, time.Now(), outsideWithin, "[flask]", key)
	t.Logf("a SET on the new master shows %v later", took)
}

// TestLocalTierClusterFailover: on a 3-master, 3-replica cluster, the
// master of a local entry is killed; the tier stops, tracks every master
// again once the replica is promoted, and an outside write on the promoted
// master shows within 200 ms.
func TestLocalTierClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 6-node cluster and waits for a failover; not with -short")
	}
	rc := storetest.StartRedisCluster(t, 3, 1)
	rc.WaitReplicasSynced(t)
	e := newTierEnv(t, redis.UniversalOptions{Addrs: rc.Addrs(), IsClusterMode: true}, store.ProfilesOptions{})
	cc := e.client.(*redis.ClusterClient)
	ctx := context.Background()
	uid := storetest.IDs(t, 1)
	e.insert(t, headline.User{ID: uid, Name: fmt.Sprintf("u%d", uid)})
	key := store.Key{ID: uid}
	e.warm(t, key)
	m, err := cc.MasterForKey(ctx, rediscache.ProfileKey(uid))
	if err != nil {
		t.Fatal(err)
	}
	victim := rc.Node(m.Options().Addr)
	if n, err := m.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n < 1 {
		t.Fatalf("WAIT 1: %d replicas have the writes (%v), want 1", n, err)
	}
	victim.Kill()
	storetest.WaitUntil(t, "the tier stopped", 5*time.Second, func() bool { return !e.tier.Usable() })
	storetest.WaitUntil(t, "a replica promoted", promotionWithin, func() bool { return len(rc.Masters(t)) == 3 })
	took := storetest.WaitUntil(t, "the tier usable on the new masters", promotionWithin, e.tier.Usable)
	var promoted string
	storetest.WaitUntil(t, "headline's client to learn the promotion", promotionWithin, func() bool {
		cc.ReloadState(ctx)
		m, err := cc.MasterForKey(ctx, rediscache.ProfileKey(uid))
		if err == nil {
			promoted = m.Options().Addr
		}
		return err == nil && promoted != victim.Addr
	})
	t.Logf("%s killed, %s promoted; the tier usable %v after the promotion was seen", victim.Addr, promoted, took)
	afterFailover(t, e, key, redis.NewClient(&redis.Options{Addr: promoted}))
}
