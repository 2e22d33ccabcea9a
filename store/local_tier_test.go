package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline"
	"github.com/headline/headline/store"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

// TestLocalTierRoundTrips: with the local tier, a cold batch costs the
// read-or-lease script and the fill, a batch warm in Redis but not local
// one round trip, and a local one none, hot keys included.
func TestLocalTierRoundTrips(t *testing.T) {
	e, _ := singleNodeTier(t, store.ProfilesOptions{})
	const n = 20
	base := storetest.IDs(t, n+1) // base+n: an id with no user, read first
	ids := make([]headline.UserID, n)
	var users []headline.User
	want := make([]string, n)
	for i := range ids {
		ids[i] = base + headline.UserID(i)
		want[i] = "-"
		if i%5 != 4 { // every fifth id has no user
			users = append(users, headline.User{ID: ids[i], Name: fmt.Sprintf("u%d", ids[i]), Intro: ptr("hi")})
			want[i] = fmt.Sprintf("u%d", ids[i])
		}
	}
	e.insert(t, users...)
	e.disable(t, ids[1])
	want[1] += "(disabled)"
	// Half the keys ask for the status, as sign-in does.
	keys := keysOf(ids, func(i int) bool { return i%2 == 1 })

	t.Run("the first read of a fresh server sends the script: NOSCRIPT, then EVAL", func(t *testing.T) {
		e.reset()
		if got := fmt.Sprint(e.lookupIDs(base + n)); got != "[-]" {
			t.Fatalf("answers %s for an unknown id", got)
		}
		// The read twice, the "-1" filled.
		wantTraffic(t, e, 3, 1, map[string]int{"EVALSHA": 1, "EVAL": 2})
	})
	t.Run("cold batch of 20: the read-or-lease script, one SELECT, the fill", func(t *testing.T) {
		e.reset()
		before := e.tier.Stats().Invalidations
		if got := fmt.Sprint(e.lookup(keys...)); got != fmt.Sprint(want) {
			t.Fatalf("answers %s, want %v", got, want)
		}
		// One script call reads and leases; the fill is one fill script per
		// profile or "-1" and a SET per status of a user (8 of them), in one
		// pipeline.
		wantTraffic(t, e, 2, 1, map[string]int{"EVALSHA": 1, "MGET": 0, "EVAL": n, "SET": 8})
		// Every entry the fill wrote comes back as an invalidation; wait for
		// them, or they would refuse the next read's fills.
		e.waitInvalidations(t, before, n+8)
	})
	t.Run("warm in Redis, not local: one round trip, no SQL", func(t *testing.T) {
		e.reset()
		if got := fmt.Sprint(e.lookup(keys...)); got != fmt.Sprint(want) {
			t.Fatalf("answers %s, want %v", got, want)
		}
		wantTraffic(t, e, 1, 0, map[string]int{"EVALSHA": 1})
	})
	t.Run("local: no Redis command, no SQL, hot keys included", func(t *testing.T) {
		e.reset()
		for range 100 {
			if got := fmt.Sprint(e.lookup(keys...)); got != fmt.Sprint(want) {
				t.Fatalf("answers %s, want %v", got, want)
			}
			if got := fmt.Sprint(e.lookup(keys[0], keys[1])); got != fmt.Sprint(want[:2]) {
				t.Fatalf("hot keys answer %s, want %v", got, want[:2])
			}
		}
		wantTraffic(t, e, 0, 0, nil)
	})
	t.Run("a corrupt entry is never filled locally: leased, loaded and rewritten", func(t *testing.T) {
		wantCorruptNotFilled(t, e, ids[0], want[0])
	})
}

// wantCorruptNotFilled: an entry of another shape (cut short, or over 4
// KiB) written from outside is read, leased, loaded and rewritten, and
// never filled into the tier.
func wantCorruptNotFilled(t *testing.T, e *tierEnv, uid headline.UserID, want string) {
	before := e.tier.Stats()
	for _, v := range []string{`{"name": "trunc`, `{"name":"` + strings.Repeat("x", 5000) + `","photo":null,"intro":null,"certi":null}`} {
		e.set(t, uid, v)
		e.waitInvalidations(t, before.Invalidations, 1)
		before = e.tier.Stats()
		e.reset()
		if got := fmt.Sprint(e.lookupIDs(uid)); got != fmt.Sprint([]string{want}) {
			t.Fatalf("answers %s, want %s", got, want)
		}
		// The script read it, the lease pipeline leased it, the fill
		// rewrote it.
		wantTraffic(t, e, 3, 1, map[string]int{"EVALSHA": 1, "SET": 1, "EVAL": 1})
		if s := e.tier.Stats(); s.Fills != before.Fills {
			t.Errorf("fills %d → %d: the corrupt entry was filled locally", before.Fills, s.Fills)
		}
		e.waitInvalidations(t, before.Invalidations, 1) // the rewrite's
		before = e.tier.Stats()
	}
}

// set writes a raw profile entry through the Flask app's client.
func (e *tierEnv) set(t *testing.T, id headline.UserID, v string) {
	t.Helper()
	if err := e.flask.Set(context.Background(), rediscache.ProfileKey(id), v, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
}

// wantTraffic fails t unless the last lookups made roundTrips Redis round
// trips and selects SELECTs, and sent cmds (by name) as counted.
func wantTraffic(t *testing.T, e *tierEnv, roundTrips, selects int, cmds map[string]int) {
	t.Helper()
	if got := e.rc.RoundTrips(); got != roundTrips {
		t.Errorf("Redis round trips = %d, want %d (%s)", got, roundTrips, e.rc)
	}
	for name, want := range cmds {
		if got := e.rc.Count(name); got != want {
			t.Errorf("%s = %d, want %d (%s)", name, got, want, e.rc)
		}
	}
	if got := e.sql.Count("SELECT"); got != selects {
		t.Errorf("SELECT = %d, want %d: %q", got, selects, e.sql.Queries())
	}
}

// TestLocalTierOutsideWritesEvict: a change to a cached entry by another
// client, as the Flask app's, shows in the answers within 200 ms (about a
// millisecond here); expiry, which Redis notices by itself, within a
// second of the TTL.
func TestLocalTierOutsideWritesEvict(t *testing.T) {
	e, _ := singleNodeTier(t, store.ProfilesOptions{})
	ctx := context.Background()
	base := storetest.IDs(t, 10)
	flaskJSON := `{"name": "flask", "photo": null, "intro": null, "certi": null}`
	for i, tc := range []struct {
		name       string
		withStatus bool
		change     func(t *testing.T, id headline.UserID) (since time.Time)
		bound      time.Duration
		want       string // the answer; "%[1]d" in it is the user's id
	}{
		{"a SET of another profile", false, func(t *testing.T, id headline.UserID) time.Time {
			e.set(t, id, flaskJSON)
			return time.Now()
		}, outsideWithin, "[flask]"},
		{`a SET of "-1"`, false, func(t *testing.T, id headline.UserID) time.Time {
			e.set(t, id, "-1")
			return time.Now()
		}, outsideWithin, "[-]"},
		{"a DEL after MySQL changed (the Flask app's clear())", false, func(t *testing.T, id headline.UserID) time.Time {
			e.rename(t, id, fmt.Sprintf("renamed-%d", id))
			e.flask.Del(ctx, rediscache.ProfileKey(id))
			return time.Now()
		}, outsideWithin, "[renamed-%[1]d]"},
		{"a SET of the status to 0", true, func(t *testing.T, id headline.UserID) time.Time {
			e.flask.Set(ctx, rediscache.StatusKey(id), "0", time.Hour)
			return time.Now()
		}, outsideWithin, "[u%[1]d(disabled)]"},
		{"FLUSHDB after MySQL changed", false, func(t *testing.T, id headline.UserID) time.Time {
			e.rename(t, id, fmt.Sprintf("flushed-%d", id))
			e.flask.FlushDB(ctx)
			return time.Now()
		}, outsideWithin, "[flushed-%[1]d]"},
		{"expiry (PEXPIRE 50ms) after MySQL changed", false, func(t *testing.T, id headline.UserID) time.Time {
			e.rename(t, id, fmt.Sprintf("expired-%d", id))
			e.flask.PExpire(ctx, rediscache.ProfileKey(id), 50*time.Millisecond)
			return time.Now().Add(50 * time.Millisecond)
		}, time.Second, "[expired-%[1]d]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uid := nth(base, i)
			e.insert(t, headline.User{ID: uid, Name: fmt.Sprintf("u%d", uid)})
			key := store.Key{ID: uid, WithStatus: tc.withStatus}
			e.warm(t, key)
			since := tc.change(t, uid)
			want := tc.want
			if strings.Contains(want, "%") {
				want = fmt.Sprintf(want, uid)
			}
			took := e.answersWithin(t, since, tc.bound, want, key)
			t.Logf("answers %s %v after the change", want, took)
		})
	}
}

func nth(base headline.UserID, i int) headline.UserID { return base + headline.UserID(i) }

// replyDelay holds back the reply of the next read-or-lease call, once it
// has come back from Redis, while during runs: the reply then reaches the
// store after a write made after the read executed, and after that
// write's invalidation.
type replyDelay struct {
	armed  atomic.Bool
	during func()
}

func (h *replyDelay) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *replyDelay) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if strings.EqualFold(cmd.Name(), "evalsha") && h.armed.CompareAndSwap(true, false) {
			h.during()
		}
		return err
	}
}

func (h *replyDelay) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestLocalTierReplyOvertakenByAWrite: a reply read before an outside
// write, and delivered after that write's invalidation was applied, is
// served to its request (it was current when Redis executed the read) but
// not kept: the store took the ticket before it sent the read, so the
// invalidation refuses the fill. Taken after the read, the ticket would
// not know of the invalidation, and the tier would keep "old" with no
// invalidation left to evict it.
func TestLocalTierReplyOvertakenByAWrite(t *testing.T) {
	e, _ := singleNodeTier(t, store.ProfilesOptions{})
	uid := storetest.IDs(t, 2)
	before := e.tier.Stats().Invalidations
	e.lookupIDs(uid + 1)              // the server now holds the script: one read, not EVALSHA and EVAL
	e.waitInvalidations(t, before, 1) // its "-1" fill's
	before = e.tier.Stats().Invalidations
	e.set(t, uid, `{"name": "old", "photo": null, "intro": null, "certi": null}`)
	e.waitInvalidations(t, before, 1)
	h := &replyDelay{during: func() {
		before := e.tier.Stats().Invalidations
		e.set(t, uid, `{"name": "new", "photo": null, "intro": null, "certi": null}`)
		e.waitInvalidations(t, before, 1)
	}}
	e.client.AddHook(h)
	h.armed.Store(true)
	refused := e.tier.Stats().FillsRefused
	if got := fmt.Sprint(e.lookupIDs(uid)); got != "[old]" {
		t.Fatalf("the delayed read answers %s, want [old]", got)
	}
	if h.armed.Load() {
		t.Fatal("the read was not delayed: the test proves nothing")
	}
	if got := e.tier.Stats().FillsRefused; got != refused+1 {
		t.Errorf("fills refused %d → %d, want one more", refused, got)
	}
	e.reset()
	if got := fmt.Sprint(e.lookupIDs(uid)); got != "[new]" {
		t.Errorf("the next lookup answers %s from the tier, want [new] (%s)", got, e.rc)
	}
}

// TestLocalTierUpdateReadsItsOwnWrite: the instance that updates a profile
// answers the new one at once, another instance within 200 ms; and the
// updating instance drops its entry even when Redis refuses the DEL.
func TestLocalTierUpdateReadsItsOwnWrite(t *testing.T) {
	srv := storetest.StartRedisServer(t)
	topo := redis.UniversalOptions{Addrs: []string{srv.Addr}}
	a := newTierEnv(t, topo, store.ProfilesOptions{})
	b := newTierEnv(t, topo, store.ProfilesOptions{})
	ctx := context.Background()
	uid := storetest.IDs(t, 1)
	a.insert(t, headline.User{ID: uid, Name: fmt.Sprintf("before-%d", uid)})
	key := store.Key{ID: uid}
	// Names are unique in the table: each run's are its own.
	rename := func(t *testing.T, name string) {
		t.Helper()
		name = fmt.Sprintf("%s-%d", name, uid)
		if _, err := a.p.Update(ctx, uid, headline.ProfileUpdate{Name: headline.Change[*string]{Set: true, Value: &name}}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("the updating instance at once, another within 200ms", func(t *testing.T) {
		a.warm(t, key)
		b.warm(t, key)
		rename(t, "after")
		done := time.Now()
		want := fmt.Sprintf("[after-%d]", uid)
		if got := fmt.Sprint(a.lookup(key)); got != want {
			t.Errorf("the updating instance answers %s right after its update, want %s", got, want)
		}
		took := b.answersWithin(t, done, outsideWithin, want, key)
		t.Logf("the other instance answers the update %v after it returned", took)
	})
	t.Run("Redis refuses writes (CLIENT PAUSE WRITE): the DEL fails, the entry still goes", func(t *testing.T) {
		a.warm(t, key)
		if err := a.flask.Do(ctx, "CLIENT", "PAUSE", 3000, "WRITE").Err(); err != nil {
			t.Fatal(err)
		}
		defer a.flask.Do(ctx, "CLIENT", "UNPAUSE")
		rename(t, "paused")
		if !strings.Contains(a.log.String(), "could not be invalidated") {
			t.Fatalf("the DEL did not fail; the test proves nothing:\n%s", a.log)
		}
		if got, want := fmt.Sprint(a.lookup(key)), fmt.Sprintf("[paused-%d]", uid); got != want {
			t.Errorf("the updating instance answers %s while Redis refuses writes, want %s", got, want)
		}
	})
}

// TestLocalTierRedisRestartsEmpty: Redis restarts empty while MySQL
// changed; the new row is served within 3 s of Redis answering, and the
// tier serves again once it tracks anew.
func TestLocalTierRedisRestartsEmpty(t *testing.T) {
	e, srv := singleNodeTier(t, store.ProfilesOptions{})
	uid := storetest.IDs(t, 1)
	e.insert(t, headline.User{ID: uid, Name: fmt.Sprintf("before-%d", uid)})
	key := store.Key{ID: uid}
	e.warm(t, key)
	srv.Kill()
	storetest.WaitUntil(t, "the tier suspended", 5*time.Second, func() bool { return !e.tier.Usable() })
	e.rename(t, uid, fmt.Sprintf("after-%d", uid))
	srv.Start(t)
	answering := time.Now()
	want := fmt.Sprintf("[after-%d]", uid)
	took := e.answersWithin(t, answering, 3*time.Second, want, key)
	usable := storetest.WaitUntil(t, "the tier usable again", 10*time.Second, e.tier.Usable)
	t.Logf("Redis answering: the new row served %v later; the tier usable again %v later", took, usable+took)
	e.warm(t, key)
	if got := fmt.Sprint(e.lookup(key)); got != want {
		t.Errorf("local answer %s, want %s", got, want)
	}
}

// TestLocalTierHerd: 100 concurrent lookups of a cold id, the tier on, are
// one SELECT and one fill: the read-or-lease script gives the lease to one
// of them, whose load the others join (or await, when they reach the
// flights first).
func TestLocalTierHerd(t *testing.T) {
	e, _ := singleNodeTier(t, store.ProfilesOptions{})
	uid := storetest.IDs(t, 2)
	e.lookupIDs(uid + 1) // the server now holds the script
	e.insert(t, headline.User{ID: uid, Name: fmt.Sprintf("u%d", uid)})
	e.reset()
	const herd = 100
	answers := make([]string, herd)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range herd {
		wg.Go(func() {
			<-start
			answers[g] = fmt.Sprint(e.lookupIDs(uid))
		})
	}
	close(start)
	wg.Wait()
	for g, got := range answers {
		if want := fmt.Sprintf("[u%d]", uid); got != want {
			t.Errorf("lookup %d answers %s, want %s", g, got, want)
		}
	}
	if got := e.sql.Count("SELECT"); got != 1 {
		t.Errorf("SELECT = %d, want 1 for the whole herd", got)
	}
	if got := e.rc.Count("EVAL"); got != 1 {
		t.Errorf("EVAL (fills) = %d, want 1 (%s)", got, e.rc)
	}
}

// TestLocalTierObserved: the observer counts the ids the tier answered
// alone apart from what Redis held.
func TestLocalTierObserved(t *testing.T) {
	rec := &recorder{}
	e, _ := singleNodeTier(t, store.ProfilesOptions{Observer: rec})
	base := storetest.IDs(t, 3)
	e.insert(t, headline.User{ID: base, Name: fmt.Sprintf("u%d", base)}, headline.User{ID: base + 1, Name: fmt.Sprintf("u%d", base+1)})
	keys := []store.Key{{ID: base}, {ID: base + 1, WithStatus: true}, {ID: base + 2}}
	e.warm(t, keys...)
	rec.take()
	e.lookup(keys...)
	want := []string{"Batch 3 (without the request's context)",
		"CacheRead {Hit:0 Miss:0 Negative:0 Corrupt:0 Answered:3 Unanswered:0 Local:3} (without the request's context)"}
	if got := rec.take(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("observed\n%q\nwant\n%q", got, want)
	}
	// The status entry goes; the profile stays local but the id is Redis's.
	before := e.tier.Stats().Invalidations
	e.flask.Del(context.Background(), rediscache.StatusKey(base+1))
	e.waitInvalidations(t, before, 1)
	e.lookup(keys...)
	want[1] = "CacheRead {Hit:0 Miss:0 Negative:0 Corrupt:0 Answered:2 Unanswered:1 Local:2} (without the request's context)"
	if got := rec.take(); len(got) < 2 || got[1] != want[1] {
		t.Errorf("observed\n%q\nwant it to begin\n%q", got, want)
	}
}

// TestLocalTierNotUsable: while no tracker says every master tracks (here,
// none runs), the tier is bypassed and lookups read Redis as without it:
// one MGET when warm, MGET, lease pipeline and fill when cold.
func TestLocalTierNotUsable(t *testing.T) {
	tier, err := store.NewLocalTier(1<<20, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tier.Close)
	e := newProfilesEnvWith(t, nil, nil, store.ProfilesOptions{Local: tier})
	uid := storetest.IDs(t, 1)
	e.insert(t, headline.User{ID: uid, Name: fmt.Sprintf("u%d", uid)})
	ids := []headline.UserID{uid}
	want := []*headline.User{{ID: uid, Name: fmt.Sprintf("u%d", uid)}}
	got, errs := e.p.Get(context.Background(), ids)
	checkUsers(t, ids, got, errs, want)
	e.wantCounts(t, 1, 1, 1, 3, 1)
	for range 3 {
		e.reset()
		got, errs = e.p.Get(context.Background(), ids)
		checkUsers(t, ids, got, errs, want)
		e.wantCounts(t, 1, 0, 0, 1, 0)
	}
	if s := tier.Stats(); s.Fills != 0 || s.Hits != 0 || s.Bypasses != 4 {
		t.Errorf("tier stats %+v, want 4 bypasses and nothing else", s)
	}
}
