package localcache

import (
	"cmp"
	"context"
	"log/slog"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline/store/storetest"
)

// Generous bounds: the delays are logged, and the figures asked for (200 ms
// for an outside write, 3 s after Redis is back) are met by far on an idle
// machine; these only catch a tier that never catches up.
const (
	evictWithin  = 5 * time.Second
	usableWithin = 10 * time.Second
)

// track starts a tracker for tier on the deployment o names, with short
// poll and ping periods, and waits until the tier is usable.
func track(t testing.TB, tier *Tier[string], o *redis.UniversalOptions) *Tracker {
	t.Helper()
	tr, err := NewTracker(tier, TrackerOptions{
		Redis: o, Poll: 100 * time.Millisecond, Ping: 200 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	storetest.WaitUntil(t, "the tier to be usable", usableWithin, tier.Usable)
	return tr
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// fill reads k from Redis as the store will, under a ticket, until a fill
// is stored (a fill may be refused when the invalidation of the test's own
// setup write arrives during the read), and returns the value.
func fill(t testing.TB, tier *Tier[string], rdb redis.Cmdable, k Key) string {
	t.Helper()
	ctx := context.Background()
	for range 100 {
		tk := tier.Begin([]Key{k})
		v, err := rdb.Get(ctx, k.RedisKey()).Result()
		if err != nil {
			tk.Done()
			t.Fatalf("GET %s: %v", k.RedisKey(), err)
		}
		ok := tk.Fill(0, v)
		tk.Done()
		if ok {
			if got, hit := tier.Get(k); !hit || got != v {
				t.Fatalf("Get(%v) = %q, %v right after a fill of %q", k, got, hit, v)
			}
			return v
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no fill of %v stored in 100 tries", k)
	return ""
}

// evicted waits until the tier no longer serves k, and logs how long that
// took since the change.
func evicted(t testing.TB, tier *Tier[string], k Key, since time.Time, what string) {
	t.Helper()
	storetest.WaitUntil(t, "eviction of "+k.RedisKey()+" after "+what, evictWithin, func() bool {
		_, hit := tier.Get(k)
		return !hit
	})
	t.Logf("%s: %v evicted %v after the change was sent", what, k.RedisKey(), time.Since(since))
}

// set writes k from outside and waits until its invalidation has come
// back, so that it cannot evict the fill that follows (it would arrive
// after the fill when the tracking connection is read later than the
// reading one). Only for tests with no other writer.
func set(t testing.TB, tier *Tier[string], outside redis.Cmdable, k Key, v string, ttl time.Duration) {
	t.Helper()
	before := tier.Stats().Invalidations
	if err := outside.Set(context.Background(), k.RedisKey(), v, ttl).Err(); err != nil {
		t.Fatal(err)
	}
	storetest.WaitUntil(t, "the invalidation of a SET of "+k.RedisKey(), evictWithin, func() bool { return tier.Stats().Invalidations > before })
}

func singleNode(t testing.TB, extra ...string) (*storetest.RedisServer, *redis.UniversalOptions, *redis.Client) {
	t.Helper()
	srv := storetest.StartRedisServer(t, extra...)
	o := &redis.UniversalOptions{Addrs: []string{srv.Addr}, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second}
	// The Flask app's client: plain, another connection, RESP2.
	outside := redis.NewClient(&redis.Options{Addr: srv.Addr, Protocol: 2})
	t.Cleanup(func() { _ = outside.Close() })
	return srv, o, outside
}

func TestOutsideChangesEvict(t *testing.T) {
	_, o, outside := singleNode(t)
	tier := newTier(t, Options[string]{})
	track(t, tier, o)
	ctx := context.Background()
	var setAt time.Time
	for i, tc := range []struct {
		name   string
		kind   Kind
		ttl    time.Duration // of the entry as set up; 0: an hour
		change func(key string) error
	}{
		{"SET", Info, 0, func(key string) error { return outside.Set(ctx, key, "new", time.Hour).Err() }},
		{"SET of a status", Status, 0, func(key string) error { return outside.Set(ctx, key, "0", time.Hour).Err() }},
		{"DEL (the Flask app's clear())", Info, 0, func(key string) error { return outside.Del(ctx, key).Err() }},
		{"UNLINK", Info, 0, func(key string) error { return outside.Unlink(ctx, key).Err() }},
		{"EXPIRE to the past", Info, 0, func(key string) error { return outside.PExpire(ctx, key, time.Millisecond).Err() }},
		// No command: Redis deletes the key when its TTL is up (its active
		// expiry samples keys with a TTL ten times a second).
		{"expiry by its TTL", Info, 300 * time.Millisecond, func(key string) error {
			time.Sleep(time.Until(setAt.Add(300 * time.Millisecond)))
			return nil
		}},
		{"a write in MULTI", Info, 0, func(key string) error {
			_, err := outside.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, key, "new", 0)
				return nil
			})
			return err
		}},
		{"FLUSHDB", Info, 0, func(string) error { return outside.FlushDB(ctx).Err() }},
		{"FLUSHDB of another DB", Info, 0, func(string) error {
			other := redis.NewClient(&redis.Options{Addr: o.Addrs[0], DB: 3})
			defer other.Close()
			return other.FlushDB(ctx).Err()
		}},
		{"FLUSHALL", Info, 0, func(string) error { return outside.FlushAll(ctx).Err() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := Key{ID: int64(100 + i), Kind: tc.kind}
			ttl := cmp.Or(tc.ttl, time.Hour)
			setAt = time.Now()
			set(t, tier, outside, k, "old", ttl)
			fill(t, tier, redisOf(t, o), k)
			before := tier.Stats()
			start := time.Now()
			if tc.ttl > 0 {
				start = setAt.Add(tc.ttl)
			}
			if err := tc.change(k.RedisKey()); err != nil {
				t.Fatal(err)
			}
			evicted(t, tier, k, start, tc.name)
			if !tier.Usable() {
				t.Error("the tier stopped")
			}
			if after := tier.Stats(); after.Invalidations == before.Invalidations && after.Flushes == before.Flushes {
				t.Errorf("evicted without an invalidation or a flush: %+v", after)
			}
		})
	}
}

// TestOtherKeysDoNotEvict: headline's own lease, written-mark and APQ keys,
// and keys of other prefixes, are not tracked.
func TestOtherKeysDoNotEvict(t *testing.T) {
	_, o, outside := singleNode(t)
	tier := newTier(t, Options[string]{})
	track(t, tier, o)
	ctx := context.Background()
	k := Key{ID: 200, Kind: Info}
	set(t, tier, outside, k, "v", time.Hour)
	fill(t, tier, redisOf(t, o), k)
	before := tier.Stats()
	for _, key := range []string{"{user:200:info}:lease", "{user:200:info}:written", "headline:apq:abc", "users:200"} {
		if err := outside.Set(ctx, key, "x", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// A write under the prefix, after those: once its invalidation is
	// here, theirs would have been too (one connection, in order).
	marker := Key{ID: 201, Kind: Info}
	if err := outside.Set(ctx, marker.RedisKey(), "x", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	storetest.WaitUntil(t, "the marker's invalidation", evictWithin, func() bool { return tier.Stats().Invalidations > before.Invalidations })
	if _, hit := tier.Get(k); !hit {
		t.Errorf("%v evicted by writes to other keys; stats %+v", k, tier.Stats())
	}
	if s := tier.Stats(); s.Invalidations != before.Invalidations+1 || s.Flushes != before.Flushes {
		t.Errorf("stats %+v, before %+v: want the marker's invalidation only", s, before)
	}
}

// redisOf is the reading client headline would use: RESP3, another
// connection than the tracker's.
func redisOf(t testing.TB, o *redis.UniversalOptions) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: o.Addrs[0]})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestMaxmemoryEvictionEvicts(t *testing.T) {
	srv, o, outside := singleNode(t, "--maxmemory", "4mb", "--maxmemory-policy", "allkeys-random")
	tier := newTier(t, Options[string]{})
	track(t, tier, o)
	ctx := context.Background()
	k := Key{ID: 1, Kind: Info}
	set(t, tier, outside, k, "v", 0)
	fill(t, tier, redisOf(t, o), k)
	filler := make([]byte, 4096)
	var start time.Time
	for i := 0; ; i++ {
		start = time.Now()
		if err := outside.Set(ctx, "filler:"+strconv.Itoa(i), filler, 0).Err(); err != nil {
			t.Fatalf("SET filler %d: %v", i, err)
		}
		if n, err := outside.Exists(ctx, k.RedisKey()).Result(); err != nil || n == 0 {
			t.Logf("%s evicted by Redis after %d fillers", k.RedisKey(), i+1)
			break
		}
		if i > 100000 {
			t.Fatalf("Redis at %s never evicted %s", srv.Addr, k.RedisKey())
		}
	}
	evicted(t, tier, k, start, "maxmemory eviction")
}

// delayReplies is a hook that, while armed, holds each GET's reply after it
// has arrived until the test releases it.
type delayReplies struct {
	arrived, release chan struct{}
}

func (d *delayReplies) DialHook(next redis.DialHook) redis.DialHook { return next }
func (d *delayReplies) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (d *delayReplies) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if cmd.Name() == "get" {
			d.arrived <- struct{}{}
			<-d.release
		}
		return err
	}
}

// TestReplyAfterInvalidation is the race the tickets exist for: a read's
// reply is delayed until the invalidation of a write made after the read
// has been applied. The reply is then stale, and no invalidation is left
// to evict it: it must not be stored. The same sequence with the version
// check off stores the stale value for good, which shows the test would
// fail without it.
func TestReplyAfterInvalidation(t *testing.T) {
	_, o, outside := singleNode(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		unguarded  bool
		wantStored bool
	}{
		{"with the version check: refused", false, false},
		{"without it: the stale reply stays", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tier := newTier(t, Options[string]{})
			tier.noVersionCheck = tc.unguarded
			track(t, tier, o)
			k := Key{ID: 7, Kind: Info}
			// The setup write's own invalidation must not be the one the
			// race sees.
			set(t, tier, outside, k, "old", 0)

			rdb := redisOf(t, o)
			d := &delayReplies{arrived: make(chan struct{}), release: make(chan struct{})}
			rdb.AddHook(d)
			stored := make(chan bool)
			go func() {
				tk := tier.Begin([]Key{k})
				v, err := rdb.Get(ctx, k.RedisKey()).Result()
				ok := err == nil && tk.Fill(0, v)
				tk.Done()
				stored <- ok
			}()
			<-d.arrived // the reply ("old") is in hand, not yet filled
			before := tier.Stats().Invalidations
			if err := outside.Set(ctx, k.RedisKey(), "new", 0).Err(); err != nil {
				t.Fatal(err)
			}
			storetest.WaitUntil(t, "the write's invalidation", evictWithin, func() bool { return tier.Stats().Invalidations > before })
			close(d.release)
			if got := <-stored; got != tc.wantStored {
				t.Fatalf("Fill stored = %v, want %v", got, tc.wantStored)
			}
			time.Sleep(50 * time.Millisecond) // nothing more is coming
			v, hit := tier.Get(k)
			if tc.wantStored {
				if !hit || v != "old" {
					t.Fatalf("Get = %q, %v: the unguarded fill should have kept the stale value", v, hit)
				}
				t.Logf("without the check, the tier serves %q while Redis holds \"new\"", v)
				return
			}
			if hit {
				t.Fatalf("Get = %q: a stale reply was stored", v)
			}
			if s := tier.Stats(); s.FillsRefused != 1 {
				t.Errorf("stats %+v: want 1 fill refused", s)
			}
		})
	}
}

// TestRedisRestart: losing the invalidation stream flushes the tier and
// stops it; once Redis answers again (empty), the tier is usable within a
// second or so, and empty.
func TestRedisRestart(t *testing.T) {
	srv, o, outside := singleNode(t)
	tier := newTier(t, Options[string]{})
	track(t, tier, o)
	k := Key{ID: 1, Kind: Info}
	set(t, tier, outside, k, "before", 0)
	fill(t, tier, redisOf(t, o), k)

	flushes := tier.Stats().Flushes
	start := time.Now()
	srv.Kill()
	storetest.WaitUntil(t, "the tier to stop", evictWithin, func() bool { return !tier.Usable() })
	t.Logf("tier stopped %v after the kill", time.Since(start))
	if _, hit := tier.Get(k); hit {
		t.Error("Get hit with Redis dead")
	}
	if s := tier.Stats(); s.Flushes == flushes || s.Entries != 0 {
		t.Errorf("stats %+v: want a flush and no entries", s)
	}
	if tk := tier.Begin([]Key{k}); tk != nil {
		t.Error("Begin gave a ticket with Redis dead")
	}

	time.Sleep(300 * time.Millisecond) // a few reconnection attempts fail
	srv.Start(t)
	start = time.Now()
	took := storetest.WaitUntil(t, "the tier to be usable again", usableWithin, tier.Usable)
	t.Logf("tier usable %v after Redis answered again", took)
	if took > 3*time.Second {
		t.Errorf("usable %v after Redis answered, want within 3s", took)
	}
	if v, hit := tier.Get(k); hit {
		t.Errorf("Get = %q from before the restart", v)
	}
	set(t, tier, outside, k, "after", 0)
	if v := fill(t, tier, redisOf(t, o), k); v != "after" {
		t.Errorf("filled %q, want after", v)
	}
}

// TestTrackingConnectionLost: a tracking connection killed or gone silent
// is lost: the tier stops and flushes, and is tracked again by itself.
func TestTrackingConnectionLost(t *testing.T) {
	_, o, outside := singleNode(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		lose func() error
	}{
		{"killed", func() error { return outside.ClientKillByFilter(ctx, "TYPE", "pubsub").Err() }},
		// Paused, Redis answers no ping: the connection looks like one to
		// a partitioned host.
		{"silent", func() error { return outside.ClientPause(ctx, time.Second).Err() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tier := newTier(t, Options[string]{})
			track(t, tier, o)
			k := Key{ID: 1, Kind: Info}
			set(t, tier, outside, k, "v", 0)
			fill(t, tier, redisOf(t, o), k)
			flushes := tier.Stats().Flushes
			start := time.Now()
			if err := tc.lose(); err != nil {
				t.Fatal(err)
			}
			storetest.WaitUntil(t, "the tier to stop", evictWithin, func() bool { return !tier.Usable() })
			t.Logf("stopped %v after the connection was lost", time.Since(start))
			storetest.WaitUntil(t, "the tier to be usable again", usableWithin, tier.Usable)
			t.Logf("usable again %v after", time.Since(start))
			if _, hit := tier.Get(k); hit {
				t.Error("an entry from before the loss survived it")
			}
			if s := tier.Stats(); s.Flushes < flushes+2 {
				t.Errorf("stats %+v: want a flush on the loss and one on the return", s)
			}
		})
	}
}

func TestTrackerClose(t *testing.T) {
	_, o, _ := singleNode(t)
	for _, tc := range []struct {
		name string
		o    *redis.UniversalOptions
	}{
		{"one node", o},
		// CLUSTER SLOTS fails there: the watch goes on polling.
		{"a cluster that never answers", &redis.UniversalOptions{Addrs: o.Addrs, IsClusterMode: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tier := newTier(t, Options[string]{})
			tr, err := NewTracker(tier, TrackerOptions{Redis: tc.o, Poll: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
			if tier.Usable() {
				t.Error("the tier is usable with no tracker")
			}
			if err := tr.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			// A goroutine that has called wg.Done may still be returning:
			// give it a moment, as goleak does.
			left := goroutinesIn("localcache.(*")
			for deadline := time.Now().Add(time.Second); left != "" && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
				left = goroutinesIn("localcache.(*")
			}
			if left != "" {
				t.Errorf("goroutines left after Close:\n%s", left)
			}
		})
	}
	if _, err := NewTracker(newTier(t, Options[string]{}), TrackerOptions{}); err == nil {
		t.Error("NewTracker without Redis options: no error")
	}
}

// goroutinesIn returns the stacks of the goroutines running a function
// whose name contains fn.
func goroutinesIn(fn string) string {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	var out []string
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, fn) && !strings.Contains(g, "goroutinesIn") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
