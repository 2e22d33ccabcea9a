package store_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/headline/headline"
	"github.com/headline/headline/store"
	"github.com/headline/headline/store/localcache"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

// outsideWithin is the bound on how long an outside write may take
// to show in headline's answers; evictions take about a millisecond here.
const outsideWithin = 200 * time.Millisecond

// tierEnv is a Profiles with a local tier and its tracker, on Redis
// servers of the test's own: tracking is server-wide, so other packages'
// writes and FLUSHDBs on the shared test Redis would evict and flush it.
type tierEnv struct {
	p     *store.Profiles
	tier  *store.LocalTier
	tr    *localcache.Tracker
	db    *bun.DB               // uncounted, for setting up rows
	flask redis.UniversalClient // a plain client of its own, as the Flask app's
	// client is the Profiles' own, counted by rc.
	client redis.UniversalClient
	rc     *storetest.RedisCounter
	sql    *storetest.SQLCounter
	log    *syncBuffer
}

// newTierEnv starts a Profiles whose cache and tier are on the deployment
// topo names (Addrs one node; MasterName set, Sentinel; IsClusterMode, a
// cluster), and waits until its tier is usable.
func newTierEnv(t testing.TB, topo redis.UniversalOptions, opts store.ProfilesOptions) *tierEnv {
	t.Helper()
	e := &tierEnv{db: storetest.DB(t, "store"), log: &syncBuffer{}}
	tier, err := store.NewLocalTier(localcache.DefaultMaxBytes, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.tier = tier
	t.Cleanup(tier.Close)
	to := topo
	to.DialTimeout, to.ReadTimeout, to.WriteTimeout = time.Second, time.Second, time.Second
	e.tr, err = localcache.NewTracker(tier, localcache.TrackerOptions{Redis: &to, Poll: 100 * time.Millisecond,
		Ping: 200 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.tr.Close() })
	co := topo
	co.DialTimeout, co.ReadTimeout, co.WriteTimeout = 100*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
	co.MaxRetries, co.DialerRetries = -1, 1
	client := redis.NewUniversalClient(&co)
	t.Cleanup(func() { _ = client.Close() })
	e.client = client
	e.rc = storetest.CountRedis(client)
	fo := topo
	fo.Protocol = 2
	e.flask = redis.NewUniversalClient(&fo)
	t.Cleanup(func() { _ = e.flask.Close() })
	counted, sc := storetest.CountSQL(e.db)
	e.sql = sc
	opts.Local = tier
	logger := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.p = store.NewProfiles(counted, rediscache.New(client, rediscache.TTLs{}), logger, opts)
	t.Cleanup(e.p.Close)
	storetest.WaitUntil(t, "the local tier usable", 30*time.Second, tier.Usable)
	return e
}

// singleNodeTier is a tierEnv on a redis-server of the test's own.
func singleNodeTier(t testing.TB, opts store.ProfilesOptions) (*tierEnv, *storetest.RedisServer) {
	t.Helper()
	srv := storetest.StartRedisServer(t)
	return newTierEnv(t, redis.UniversalOptions{Addrs: []string{srv.Addr}}, opts), srv
}

func (e *tierEnv) reset() {
	e.rc.Reset()
	e.sql.Reset()
}

// insert adds users to the database as profilesEnv.insert does.
func (e *tierEnv) insert(t *testing.T, users ...headline.User) {
	t.Helper()
	(&profilesEnv{db: e.db}).insert(t, users...)
}

// disable sets the status column of id to 0, as an operator does.
func (e *tierEnv) disable(t *testing.T, id headline.UserID) {
	t.Helper()
	if _, err := e.db.NewRaw("UPDATE user_basic SET status = 0 WHERE user_id = ?", id).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// rename changes id's name in MySQL only, as a write the cache does not
// hear of.
func (e *tierEnv) rename(t *testing.T, id headline.UserID, name string) {
	t.Helper()
	if _, err := e.db.NewRaw("UPDATE user_basic SET user_name = ? WHERE user_id = ?", name, id).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// lookup answers keys and renders each answer: the name, "-" for no such
// user, a "(disabled)" suffix, or "error".
func (e *tierEnv) lookup(keys ...store.Key) []string {
	r := e.p.Lookup(context.Background(), keys)
	out := make([]string, len(keys))
	for i := range keys {
		switch {
		case r.Errs[i] != nil:
			out[i] = "error"
		case r.Users[i] == nil:
			out[i] = "-"
		default:
			out[i] = r.Users[i].Name
		}
		if r.IsDisabled(i) {
			out[i] += "(disabled)"
		}
	}
	return out
}

// lookupIDs is lookup of profiles alone.
func (e *tierEnv) lookupIDs(ids ...headline.UserID) []string {
	keys := make([]store.Key, len(ids))
	for i, id := range ids {
		keys[i] = store.Key{ID: id}
	}
	return e.lookup(keys...)
}

// warm looks keys up until a lookup makes no Redis command: every entry
// is local. (The fill of a key is refused when the invalidation of an
// earlier write of it arrives during the read, so it may take a few.)
func (e *tierEnv) warm(t *testing.T, keys ...store.Key) {
	t.Helper()
	for range 100 {
		e.rc.Reset()
		e.lookup(keys...)
		if e.rc.RoundTrips() == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("keys not local after 100 lookups (%s)", e.rc)
}

// answersWithin looks keys up until the answers are want, and fails t
// unless that happened within bound of since; it returns how long it took.
func (e *tierEnv) answersWithin(t *testing.T, since time.Time, bound time.Duration, want string, keys ...store.Key) time.Duration {
	t.Helper()
	var got string
	deadline := since.Add(bound + 5*time.Second)
	for {
		got = fmt.Sprint(e.lookup(keys...))
		took := time.Since(since)
		if got == want {
			if took > bound {
				t.Errorf("answers %s only %v after the change, want within %v", want, took, bound)
			}
			return took
		}
		if time.Now().After(deadline) {
			t.Fatalf("answers %s, not %s, %v after the change", got, want, took)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// waitInvalidations waits until the tier has applied n more invalidations
// than before: those of the test's own writes, which would otherwise
// refuse (or evict) a fill that follows.
func (e *tierEnv) waitInvalidations(t *testing.T, before uint64, n int) {
	t.Helper()
	storetest.WaitUntil(t, fmt.Sprintf("%d invalidations", n), 5*time.Second, func() bool {
		return e.tier.Stats().Invalidations >= before+uint64(n)
	})
}

func keysOf(ids []headline.UserID, withStatus func(i int) bool) []store.Key {
	keys := make([]store.Key, len(ids))
	for i, id := range ids {
		keys[i] = store.Key{ID: id, WithStatus: withStatus(i)}
	}
	return keys
}
