package rediscache_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

// redisDB is this package's logical Redis DB.
const redisDB = 5

// readCase is one id of TestReadOrLease's batch: what its keys hold before
// the read and what the read must report.
type readCase struct {
	name    string
	profile string // "" absent
	held    bool   // another batch holds its lease
	written bool   // its fresh-window marker lives
	status  string // "" absent
	// want
	kind       rediscache.Kind
	corrupt    bool
	leased     bool // this read took its lease
	heldByMore bool // reported in Lease.Held
	wantStatus rediscache.Status
}

var readCases = []readCase{
	{name: "a profile", profile: `{"name":"a","photo":null,"intro":null,"certi":null}`, status: "1", kind: rediscache.Hit, wantStatus: rediscache.StatusEnabled},
	{name: "no such user", profile: "-1", kind: rediscache.Missing},
	{name: "a corrupt value: no lease", profile: `{"name":`, status: "0", kind: rediscache.Miss, corrupt: true, wantStatus: rediscache.StatusDisabled},
	{name: "absent: the lease is taken", kind: rediscache.Miss, leased: true, status: "x"},
	{name: "absent, written lately", written: true, kind: rediscache.Miss, leased: true},
	{name: "absent, leased by another batch", held: true, written: true, kind: rediscache.Miss, heldByMore: true},
}

// seedReadCases writes readCases' keys for ids first, first+1, … through rdb.
func seedReadCases(t *testing.T, rdb redis.UniversalClient, first headline.UserID) {
	t.Helper()
	ctx := context.Background()
	for i, tc := range readCases {
		id := first + headline.UserID(i)
		for key, v := range map[string]string{rediscache.ProfileKey(id): tc.profile, rediscache.StatusKey(id): tc.status} {
			if v != "" {
				if err := rdb.Set(ctx, key, v, time.Hour).Err(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if tc.held {
			if err := rdb.Set(ctx, rediscache.LeaseKey(id), "someone-else", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if tc.written {
			if err := rdb.Set(ctx, rediscache.WrittenKey(id), "1", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// checkReadOrLease reads readCases' batch through c and checks every id's
// entry, status and lease, the round trips (rc), and that the leases it
// took are the ones a fill may write under.
func checkReadOrLease(t *testing.T, c *rediscache.Cache, raw redis.UniversalClient, rc *storetest.RedisCounter, first headline.UserID, wantRoundTrips int) {
	t.Helper()
	ctx := context.Background()
	ids := make([]headline.UserID, len(readCases))
	for i := range readCases {
		ids[i] = first + headline.UserID(i)
	}
	rc.Reset()
	r, l, err := c.ReadOrLease(ctx, ids, ids, 2*time.Second, true)
	if err != nil {
		t.Fatalf("ReadOrLease: %v", err)
	}
	if got := rc.RoundTrips(); got != wantRoundTrips {
		t.Errorf("round trips = %d, want %d (%s)", got, wantRoundTrips, rc)
	}
	counted := rc.String()
	defer func() {
		// What the caller checks next is the read's traffic, not the fill's.
		rc.Reset()
		t.Logf("read: %s", counted)
	}()
	held := map[headline.UserID]bool{}
	for _, id := range l.Held {
		held[id] = true
	}
	var fill rediscache.WriteBack
	for i, tc := range readCases {
		id, e := ids[i], r.Profiles[i]
		if e.Kind != tc.kind || e.Corrupt != tc.corrupt || r.Statuses[i] != tc.wantStatus {
			t.Errorf("%s: kind %v corrupt %v status %v, want %v %v %v", tc.name, e.Kind, e.Corrupt, r.Statuses[i], tc.kind, tc.corrupt, tc.wantStatus)
		}
		if l.Holds(id) != tc.leased || held[id] != tc.heldByMore {
			t.Errorf("%s: lease taken %v, held by others %v; want %v, %v", tc.name, l.Holds(id), held[id], tc.leased, tc.heldByMore)
		}
		if l.Written[id] != (tc.written && tc.kind == rediscache.Miss && !tc.corrupt) {
			t.Errorf("%s: written %v", tc.name, l.Written[id])
		}
		if tc.leased {
			if ttl := raw.PTTL(ctx, rediscache.LeaseKey(id)).Val(); ttl <= 0 || ttl > 2*time.Second {
				t.Errorf("%s: lease TTL %v, want (0, 2s]", tc.name, ttl)
			}
			fill.Missing = append(fill.Missing, id)
		}
	}
	voided, err := c.Fill(ctx, fill, l)
	if err != nil || len(voided) != 0 {
		t.Fatalf("Fill under the read's leases: voided %v, err %v", voided, err)
	}
	for _, id := range fill.Missing {
		if v := raw.Get(ctx, rediscache.ProfileKey(id)).Val(); v != "-1" {
			t.Errorf("user %d after the fill under the read's lease = %q, want -1", id, v)
		}
	}
}

func TestReadOrLease(t *testing.T) {
	t.Run("one node: one script call for the batch", func(t *testing.T) {
		r := storetest.NewRedis(t, redisDB)
		rdb := redis.NewClient(r.Options())
		t.Cleanup(func() { _ = rdb.Close() })
		rc := storetest.CountRedis(rdb)
		c := rediscache.New(rdb, rediscache.TTLs{})
		first := storetest.IDs(t, len(readCases))
		seedReadCases(t, r.Raw, first)
		// The first call of a fresh server finds no script: EVALSHA, then EVAL.
		if err := r.Raw.ScriptFlush(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		checkReadOrLease(t, c, r.Raw, rc, first, 2)
		first = storetest.IDs(t, len(readCases))
		seedReadCases(t, r.Raw, first)
		checkReadOrLease(t, c, r.Raw, rc, first, 1)
	})
	t.Run("cluster: a call per profile key and a GET per status key, one pipeline", func(t *testing.T) {
		if testing.Short() {
			t.Skip("starts a cluster")
		}
		cl := storetest.StartRedisCluster(t, 3, 0)
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
		t.Cleanup(func() { _ = cc.Close() })
		rc := storetest.CountRedis(cc)
		c := rediscache.New(cc, rediscache.TTLs{})
		ctx := context.Background()
		first := storetest.IDs(t, len(readCases))
		seedReadCases(t, cc, first)
		// Fresh nodes hold no script: one more pipeline sends EVAL.
		checkReadOrLease(t, c, cc, rc, first, 2)
		if err := cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			return n.ScriptLoad(ctx, rediscache.ReadSource).Err()
		}); err != nil {
			t.Fatal(err)
		}
		first = storetest.IDs(t, len(readCases))
		seedReadCases(t, cc, first)
		checkReadOrLease(t, c, cc, rc, first, 1)
	})
}

// TestReadOrLeaseBigBatch: the script reads more keys than one MGET of its
// chunks (1000) holds, in key order.
func TestReadOrLeaseBigBatch(t *testing.T) {
	r := storetest.NewRedis(t, redisDB)
	rdb := redis.NewClient(r.Options())
	t.Cleanup(func() { _ = rdb.Close() })
	c := rediscache.New(rdb, rediscache.TTLs{})
	ctx := context.Background()
	const n = 2500
	first := storetest.IDs(t, n)
	ids := make([]headline.UserID, n)
	for i := range ids {
		ids[i] = first + headline.UserID(i)
		if i%2 == 0 {
			rdb.Set(ctx, rediscache.ProfileKey(ids[i]), fmt.Sprintf(`{"name":"u%d","photo":null,"intro":null,"certi":null}`, i), time.Hour)
			rdb.Set(ctx, rediscache.StatusKey(ids[i]), "0", time.Hour)
		}
	}
	got, l, err := c.ReadOrLease(ctx, ids, ids, time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got.Profiles {
		if i%2 == 0 {
			if e.Kind != rediscache.Hit || e.User.Name != fmt.Sprintf("u%d", i) || got.Statuses[i] != rediscache.StatusDisabled {
				t.Fatalf("key %d: %+v status %v", i, e, got.Statuses[i])
			}
		} else if e.Kind != rediscache.Miss || !l.Holds(ids[i]) || got.Statuses[i] != rediscache.StatusUnknown {
			t.Fatalf("key %d: %+v leased %v status %v", i, e, l.Holds(ids[i]), got.Statuses[i])
		}
	}
}
