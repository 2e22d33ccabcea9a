package store_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/headline/headline"
	"github.com/headline/headline/store"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/sqldb"
	"github.com/headline/headline/store/storetest"
)

// redisDB is this package's logical Redis DB.
const redisDB = 1

func ptr(s string) *string { return &s }

// profilesEnv is a Profiles on the package's database and a Redis of the
// test's own, with counters on both.
type profilesEnv struct {
	p     *store.Profiles
	db    *bun.DB // uncounted, for setting up rows
	redis *storetest.Redis
	rc    *storetest.RedisCounter
	sql   *storetest.SQLCounter
	log   *syncBuffer
}

// newProfilesEnv returns a Profiles whose cache is a client on redisOpt (nil:
// the test's Redis) and whose database is the package's, counted, or what db
// makes of it.
func newProfilesEnv(t *testing.T, redisOpt *redis.Options, db func(e *profilesEnv, counted *bun.DB) bun.IDB) *profilesEnv {
	t.Helper()
	return newProfilesEnvWith(t, redisOpt, db, store.ProfilesOptions{})
}

// newProfilesEnvWith is newProfilesEnv with options for the Profiles.
func newProfilesEnvWith(t *testing.T, redisOpt *redis.Options, db func(e *profilesEnv, counted *bun.DB) bun.IDB, opts store.ProfilesOptions) *profilesEnv {
	t.Helper()
	e := &profilesEnv{db: storetest.DB(t, "store"), redis: storetest.NewRedis(t, redisDB), log: &syncBuffer{}}
	if redisOpt == nil {
		redisOpt = e.redis.Options()
	}
	client := storetest.ShortTimeoutClient(t, redisOpt)
	e.rc = storetest.CountRedis(client)
	counted, sc := storetest.CountSQL(e.db)
	e.sql = sc
	var idb bun.IDB = counted
	if db != nil {
		idb = db(e, counted)
	}
	logger := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.p = store.NewProfiles(idb, rediscache.New(client, rediscache.TTLs{}), logger, opts)
	t.Cleanup(e.p.Close)
	e.reset()
	return e
}

func (e *profilesEnv) reset() {
	e.rc.Reset()
	e.sql.Reset()
}

// insert adds users to the database, replacing rows a previous run (-count)
// left with the same ids.
func (e *profilesEnv) insert(t *testing.T, users ...headline.User) {
	t.Helper()
	ctx := context.Background()
	ids := make([]headline.UserID, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	if _, err := e.db.NewDelete().TableExpr("user_basic").Where("user_id IN (?)", bun.List(ids)).Exec(ctx); err != nil {
		t.Fatalf("delete users: %v", err)
	}
	if err := sqldb.InsertUsers(ctx, e.db, users...); err != nil {
		t.Fatalf("insert users: %v", err)
	}
}

// set writes a raw cache value, as the Flask app would.
func (e *profilesEnv) set(t *testing.T, id headline.UserID, v string) {
	t.Helper()
	if err := e.redis.Raw.Set(context.Background(), rediscache.ProfileKey(id), v, time.Hour).Err(); err != nil {
		t.Fatalf("SET %s: %v", rediscache.ProfileKey(id), err)
	}
}

// cached returns the raw cache value of id, and whether there is one.
func (e *profilesEnv) cached(t *testing.T, id headline.UserID) (string, bool) {
	t.Helper()
	v, err := e.redis.Raw.Get(context.Background(), rediscache.ProfileKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false
	}
	if err != nil {
		t.Fatalf("GET %s: %v", rediscache.ProfileKey(id), err)
	}
	return v, true
}

// wantCounts fails t unless the Redis and SQL counters read as given.
// wantCounts checks one Get's traffic: MGETs, lease acquisitions (SET NX),
// lease scripts (a fill under a lease, or a release after a failed load),
// Redis round trips and SELECTs.
func (e *profilesEnv) wantCounts(t *testing.T, mget, leases, scripts, roundTrips, selects int) {
	t.Helper()
	if got := e.rc.Count("MGET"); got != mget {
		t.Errorf("MGET = %d, want %d (%s)", got, mget, e.rc)
	}
	if got := e.rc.Count("SET"); got != leases {
		t.Errorf("SET (leases) = %d, want %d (%s)", got, leases, e.rc)
	}
	if got := e.rc.Count("EVAL"); got != scripts {
		t.Errorf("EVAL (fills, releases) = %d, want %d (%s)", got, scripts, e.rc)
	}
	if got := e.rc.RoundTrips(); got != roundTrips {
		t.Errorf("Redis round trips = %d, want %d (%s)", got, roundTrips, e.rc)
	}
	if got := e.sql.Count("SELECT"); got != selects {
		t.Errorf("SELECT = %d, want %d: %q", got, selects, e.sql.Queries())
	}
}

// checkUsers fails t unless got is want, element by element (nil where no
// user), and no error came back.
func checkUsers(t *testing.T, ids []headline.UserID, got []*headline.User, errs []error, want []*headline.User) {
	t.Helper()
	if len(got) != len(ids) || len(errs) != len(ids) {
		t.Fatalf("Get(%d ids) returned %d users and %d errors", len(ids), len(got), len(errs))
	}
	for i := range ids {
		if errs[i] != nil {
			t.Errorf("errs[%d] (id %d) = %v, want nil", i, ids[i], errs[i])
		}
		if g, w := storetest.ShowUser(got[i]), storetest.ShowUser(want[i]); g != w {
			t.Errorf("users[%d] (id %d) = %s, want %s", i, ids[i], g, w)
		}
	}
}

// syncBuffer is a log sink the server and the test share.
type syncBuffer = storetest.SyncBuffer

func TestProfilesGetColdAndWarm(t *testing.T) {
	ctx := context.Background()
	e := newProfilesEnv(t, nil, nil)
	base := storetest.IDs(t, 31)
	at := func(n int64) headline.UserID { return base + n } // the test's n-th id
	full := headline.User{ID: at(1), Name: fmt.Sprintf("p%d", at(1)), Photo: ptr(fmt.Sprintf("http://img/%d.png", at(1))), Intro: ptr("hello"), Certi: ptr("certified")}
	bare := headline.User{ID: at(2), Name: fmt.Sprintf("p%d", at(2))}
	cjk := headline.User{ID: at(3), Name: fmt.Sprintf("张三%d", at(3)), Intro: ptr(`你好 <b>&"quoted"</b>`)}
	e.insert(t, full, bare, cjk)

	// Key order mixes users with unknown ids.
	ids := []headline.UserID{at(3), at(4), at(1), at(5), at(2)}
	want := []*headline.User{&cjk, nil, &full, nil, &bare}

	t.Run("cold batch is one MGET, one lease pipeline, one SELECT and one write-back pipeline", func(t *testing.T) {
		e.reset()
		got, errs := e.p.Get(ctx, ids)
		checkUsers(t, ids, got, errs, want)
		e.wantCounts(t, 1, len(ids), len(ids), 3, 1)
		if qs := e.sql.Queries(); len(qs) == 1 {
			for _, id := range ids {
				if !strings.Contains(qs[0], strconv.FormatInt(id, 10)) {
					t.Errorf("SELECT does not ask for %d: %s", id, qs[0])
				}
			}
		}
	})

	t.Run("write-back is the Toutiao format with its TTLs", func(t *testing.T) { wantColdWriteBack(t, e, at) })

	t.Run("warm batch is one MGET and no SQL", func(t *testing.T) {
		e.reset()
		got, errs := e.p.Get(ctx, ids)
		checkUsers(t, ids, got, errs, want)
		e.wantCounts(t, 1, 0, 0, 1, 0)
	})

	t.Run("half-warm batch selects only the misses", func(t *testing.T) {
		fresh := headline.User{ID: at(10), Name: fmt.Sprintf("p%d", at(10)), Certi: ptr("c")}
		e.insert(t, fresh)
		ids := []headline.UserID{at(1), at(10), at(4), at(11)}
		want := []*headline.User{&full, &fresh, nil, nil}
		e.reset()
		got, errs := e.p.Get(ctx, ids)
		checkUsers(t, ids, got, errs, want)
		e.wantCounts(t, 1, 2, 2, 3, 1)
		if qs := e.sql.Queries(); len(qs) == 1 {
			has := func(n int64) bool { return strings.Contains(qs[0], strconv.FormatInt(at(n), 10)) }
			if !has(10) || !has(11) || has(1) || has(4) {
				t.Errorf("SELECT should ask for exactly %d and %d: %s", at(10), at(11), qs[0])
			}
		}
	})

	t.Run("entries written by the Flask app are served as they are", func(t *testing.T) { wantFlaskEntriesServed(t, e, at) })
	t.Run("an unreadable entry is loaded again and overwritten", func(t *testing.T) { wantUnreadableReloaded(t, e, at) })
}

// wantColdWriteBack checks what TestProfilesGetColdAndWarm's cold batch
// wrote: the Toutiao format, with its TTLs.
func wantColdWriteBack(t *testing.T, e *profilesEnv, at func(int64) headline.UserID) {
	for _, tc := range []struct {
		id             headline.UserID
		want           string
		minTTL, maxTTL time.Duration
	}{
		{at(1), fmt.Sprintf(`{"name":"p%d","photo":"http://img/%d.png","intro":"hello","certi":"certified"}`, at(1), at(1)), 1800 * time.Second, 2399 * time.Second},
		{at(2), fmt.Sprintf(`{"name":"p%d","photo":null,"intro":null,"certi":null}`, at(2)), 1800 * time.Second, 2399 * time.Second},
		{at(3), fmt.Sprintf(`{"name":"张三%d","photo":null,"intro":"你好 \u003cb\u003e\u0026\"quoted\"\u003c/b\u003e","certi":null}`, at(3)), 1800 * time.Second, 2399 * time.Second},
		{at(4), "-1", 300 * time.Second, 359 * time.Second},
		{at(5), "-1", 300 * time.Second, 359 * time.Second},
	} {
		got, ok := e.cached(t, tc.id)
		if !ok {
			t.Errorf("%s absent, want %s", rediscache.ProfileKey(tc.id), tc.want)
			continue
		}
		if got != tc.want {
			t.Errorf("%s = %s, want %s", rediscache.ProfileKey(tc.id), got, tc.want)
		}
		// A second or two may pass between SET and TTL.
		if ttl := e.redis.TTL(t, rediscache.ProfileKey(tc.id)); ttl < tc.minTTL-2*time.Second || ttl > tc.maxTTL {
			t.Errorf("TTL %s = %v, want %v..%v", rediscache.ProfileKey(tc.id), ttl, tc.minTTL, tc.maxTTL)
		}
	}
}

// wantFlaskEntriesServed: entries the Flask app wrote are served as they
// are; the database says otherwise, and the cache wins until it expires.
func wantFlaskEntriesServed(t *testing.T, e *profilesEnv, at func(int64) headline.UserID) {
	e.insert(t, headline.User{ID: at(20), Name: fmt.Sprintf("p%d-mysql", at(20))}, headline.User{ID: at(21), Name: fmt.Sprintf("p%d-signed-up", at(21))})
	e.set(t, at(20), `{"name": "\u5f20\u4e09", "photo": null, "intro": "\u4f60\u597d \"q\"", "certi": null}`)
	e.set(t, at(21), "-1")
	ids := []headline.UserID{at(20), at(21)}
	want := []*headline.User{{ID: at(20), Name: "张三", Intro: ptr(`你好 "q"`)}, nil}
	e.reset()
	got, errs := e.p.Get(context.Background(), ids)
	checkUsers(t, ids, got, errs, want)
	e.wantCounts(t, 1, 0, 0, 1, 0)
}

// wantUnreadableReloaded: an entry that is not a profile is loaded again
// and overwritten.
func wantUnreadableReloaded(t *testing.T, e *profilesEnv, at func(int64) headline.UserID) {
	u := headline.User{ID: at(30), Name: fmt.Sprintf("p%d", at(30))}
	e.insert(t, u)
	e.set(t, at(30), `{"name": "truncat`)
	ids := []headline.UserID{at(30)}
	e.reset()
	got, errs := e.p.Get(context.Background(), ids)
	checkUsers(t, ids, got, errs, []*headline.User{&u})
	e.wantCounts(t, 1, 1, 1, 3, 1)
	if got, _ := e.cached(t, at(30)); got != fmt.Sprintf(`{"name":"p%d","photo":null,"intro":null,"certi":null}`, at(30)) {
		t.Errorf("entry after the load = %q, want it rewritten", got)
	}
}

func TestProfilesGetRedisUnreachable(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"nobody listens on the port", func(t *testing.T) string {
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(storetest.FreePort(t)))
		}},
		{"the server accepts but never answers", func(t *testing.T) string { return storetest.StartUnanswering(t).Addr }},
	} {
		t.Run(tc.name+": results come from SQL, no error, no write-back", func(t *testing.T) {
			base := storetest.IDs(t, 4)
			opt := storetest.NewRedis(t, redisDB).Options()
			opt.Addr = tc.addr(t)
			e := newProfilesEnv(t, opt, nil)
			a := headline.User{ID: base + 1, Name: fmt.Sprintf("p%d", base+1), Photo: ptr("ph")}
			b := headline.User{ID: base + 2, Name: fmt.Sprintf("p%d", base+2)}
			e.insert(t, a, b)
			ids := []headline.UserID{base + 2, base + 3, base + 1}
			want := []*headline.User{&b, nil, &a}

			start := time.Now()
			got, errs := e.p.Get(ctx, ids)
			elapsed := time.Since(start)
			checkUsers(t, ids, got, errs, want)
			// The failed MGET is counted; no lease or fill may follow it.
			e.wantCounts(t, 1, 0, 0, 1, 1)
			if elapsed > 2*time.Second {
				t.Errorf("Get took %v; a dead Redis must cost about one 100ms timeout", elapsed)
			}
			log := e.log.String()
			if got := strings.Count(log, "cache read failed"); got != 1 {
				t.Errorf("logged %d cache read failures, want 1:\n%s", got, log)
			}
			if strings.Contains(log, "write-back") {
				t.Errorf("logged a write-back failure; no write-back should have been tried:\n%s", log)
			}
		})
	}
}

func TestProfilesGetDatabaseFailing(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		db   func(t *testing.T) func(*profilesEnv, *bun.DB) bun.IDB
	}{
		{"a closed database", func(t *testing.T) func(*profilesEnv, *bun.DB) bun.IDB {
			db, err := sqldb.OpenSQLite("file:headline_test_store_closed?mode=memory&cache=shared")
			if err != nil {
				t.Fatalf("open sqlite: %v", err)
			}
			if err := db.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			return func(e *profilesEnv, _ *bun.DB) bun.IDB {
				counted, sc := storetest.CountSQL(db)
				e.sql = sc
				return counted
			}
		}},
		{"a transaction already rolled back", func(t *testing.T) func(*profilesEnv, *bun.DB) bun.IDB {
			return func(_ *profilesEnv, counted *bun.DB) bun.IDB {
				tx, err := counted.BeginTx(ctx, nil)
				if err != nil {
					t.Fatalf("begin: %v", err)
				}
				if err := tx.Rollback(); err != nil {
					t.Fatalf("rollback: %v", err)
				}
				return tx
			}
		}},
	} {
		t.Run(tc.name+": only cache misses fail", func(t *testing.T) {
			base := storetest.IDs(t, 5)
			e := newProfilesEnv(t, nil, tc.db(t))
			cached := headline.User{ID: base + 1, Name: fmt.Sprintf("p%d", base+1), Intro: ptr("cached")}
			inDB := headline.User{ID: base + 3, Name: fmt.Sprintf("p%d", base+3)}
			e.insert(t, inDB)
			e.set(t, base+1, fmt.Sprintf(`{"name": "p%d", "photo": null, "intro": "cached", "certi": null}`, base+1))
			e.set(t, base+2, "-1")

			ids := []headline.UserID{base + 3, base + 1, base + 4, base + 2}
			for round := 1; round <= 2; round++ {
				e.reset()
				got, errs := e.p.Get(ctx, ids)
				if len(got) != len(ids) || len(errs) != len(ids) {
					t.Fatalf("Get(%d ids) returned %d users and %d errors", len(ids), len(got), len(errs))
				}
				for j, id := range ids {
					wantOnlyMissesFailed(t, round, id, got[j], errs[j], base, &cached)
				}
				// A failed load writes nothing back, gives its two leases
				// up, and is not shared with the next request: each round
				// tries the database again.
				e.wantCounts(t, 1, 2, 2, 3, 1)
			}
			for _, id := range []headline.UserID{base + 3, base + 4} {
				if v, ok := e.cached(t, id); ok {
					t.Errorf("%s = %q after a failed load, want absent", rediscache.ProfileKey(id), v)
				}
			}
		})
	}
}

// wantOnlyMissesFailed checks TestProfilesGetDatabaseFailing's answer for
// id: base+1 is the cached user, base+2 the cached "-1", any other id failed
// with an internal error.
func wantOnlyMissesFailed(t *testing.T, round int, id headline.UserID, got *headline.User, err error, base headline.UserID, cached *headline.User) {
	t.Helper()
	switch id {
	case base + 1:
		if err != nil || storetest.ShowUser(got) != storetest.ShowUser(cached) {
			t.Errorf("round %d: id %d (cached) = %s, %v; want %s, nil", round, id, storetest.ShowUser(got), err, storetest.ShowUser(cached))
		}
	case base + 2:
		if err != nil || got != nil {
			t.Errorf("round %d: id %d (cached -1) = %s, %v; want nil, nil", round, id, storetest.ShowUser(got), err)
		}
	default:
		if err == nil {
			t.Errorf("round %d: id %d (not cached) = %s, nil error; want the database's error", round, id, storetest.ShowUser(got))
		} else if e, ok := errors.AsType[*headline.Error](err); ok && e.Code != headline.ECodeInternal {
			t.Errorf("round %d: id %d error code = %q, want %q (%v)", round, id, e.Code, headline.ECodeInternal, err)
		}
		if got != nil {
			t.Errorf("round %d: id %d = %s with an error, want nil", round, id, storetest.ShowUser(got))
		}
	}
}

func TestProfilesGetHerdOnOneColdID(t *testing.T) {
	ctx := context.Background()
	const herd = 100
	base := storetest.IDs(t, 2)
	for _, tc := range []struct {
		name string
		id   headline.UserID
		want *headline.User
	}{
		{"an existing user", base, &headline.User{ID: base, Name: fmt.Sprintf("p%d", base), Photo: ptr("herd.png")}},
		{"an unknown id", base + 1, nil},
	} {
		t.Run(fmt.Sprintf("%d concurrent Gets of %s are one SELECT", herd, tc.name), func(t *testing.T) {
			e := newProfilesEnv(t, nil, nil)
			if tc.want != nil {
				e.insert(t, *tc.want)
			}
			e.reset()
			ids := []headline.UserID{tc.id}
			var wg sync.WaitGroup
			start := make(chan struct{})
			results := make([][]*headline.User, herd)
			errs := make([][]error, herd)
			for g := range herd {
				wg.Go(func() {
					<-start
					results[g], errs[g] = e.p.Get(ctx, ids)
				})
			}
			close(start)
			wg.Wait()
			for g := range herd {
				checkUsers(t, ids, results[g], errs[g], []*headline.User{tc.want})
			}
			if got := e.sql.Count("SELECT"); got != 1 {
				t.Errorf("SELECT = %d, want 1 for the whole herd: %q", got, e.sql.Queries())
			}
			if got := e.rc.Count("MGET"); got != herd {
				t.Errorf("MGET = %d, want %d (one per Get)", got, herd)
			}
			if got := e.rc.Count("EVAL"); got != 1 {
				t.Errorf("EVAL = %d, want 1 (only the load's owner writes back)", got)
			}
		})
	}
}

func TestProfilesGetOverlappingBatches(t *testing.T) {
	ctx := context.Background()
	e := newProfilesEnv(t, nil, nil)
	const rounds = 50
	// Round r uses a = base+4r, b = a+1, c = a+2; b and c exist, a does not.
	base := storetest.IDs(t, 4*rounds)
	var users []headline.User
	for r := range rounds {
		a := base + headline.UserID(4*r)
		users = append(users,
			headline.User{ID: a + 1, Name: fmt.Sprintf("p%d", a+1), Intro: ptr("b")},
			headline.User{ID: a + 2, Name: fmt.Sprintf("p%d", a+2), Certi: ptr("c")})
	}
	e.insert(t, users...)
	e.reset()

	t.Run("{a,b} and {b,c} at once each get their own answers", func(t *testing.T) {
		for r := range rounds {
			a := base + headline.UserID(4*r)
			ua, ub, uc := (*headline.User)(nil), &users[2*r], &users[2*r+1]
			batches := []struct {
				ids  []headline.UserID
				want []*headline.User
			}{
				{[]headline.UserID{a, a + 1}, []*headline.User{ua, ub}},
				{[]headline.UserID{a + 1, a + 2}, []*headline.User{ub, uc}},
			}
			got := make([][]*headline.User, len(batches))
			errs := make([][]error, len(batches))
			var wg sync.WaitGroup
			start := make(chan struct{})
			for k, batch := range batches {
				wg.Go(func() {
					<-start
					got[k], errs[k] = e.p.Get(ctx, batch.ids)
				})
			}
			close(start)
			wg.Wait()
			for k, batch := range batches {
				checkUsers(t, batch.ids, got[k], errs[k], batch.want)
			}
		}
	})

	t.Run("each id is selected exactly once", func(t *testing.T) {
		queries := e.sql.Queries()
		if n := e.sql.Count("SELECT"); n < rounds || n > 2*rounds {
			t.Errorf("SELECT = %d for %d rounds, want %d..%d", n, rounds, rounds, 2*rounds)
		}
		for r := range rounds {
			for id := base + headline.UserID(4*r); id < base+headline.UserID(4*r+3); id++ {
				re := regexp.MustCompile(`\b` + strconv.FormatInt(id, 10) + `\b`)
				n := 0
				for _, q := range queries {
					if re.MatchString(q) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("id %d is in %d SELECTs, want 1", id, n)
				}
			}
		}
	})
}
