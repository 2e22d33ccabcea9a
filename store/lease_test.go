package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// raceRoundsEnv raises the number of rounds of the race tests (2000 with
// leases and 500 for the naive reader at least).
const raceRoundsEnv = "HEADLINE_RACE_ROUNDS"

// updaterKey marks the context of an update, whose own SELECT (the row as
// stored, read back in the transaction) is never slowed down.
type updaterKey struct{}

// selectDelay is a Bun query hook that sleeps after every SELECT of a reader
// (any context without updaterKey) for the current delay. The sleep sits
// exactly in the race window of cache-aside: between the SELECT that read
// the row and the write-back of what it read. AfterQuery runs after the rows
// are closed, so the connection is free and the update can run meanwhile,
// even on SQLite's single connection.
type selectDelay struct{ d atomic.Int64 }

func (h *selectDelay) set(d time.Duration) { h.d.Store(int64(d)) }

func (h *selectDelay) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}

func (h *selectDelay) AfterQuery(ctx context.Context, e *bun.QueryEvent) {
	if ctx.Value(updaterKey{}) != nil || e.Operation() != "SELECT" {
		return
	}
	if d := time.Duration(h.d.Load()); d > 0 {
		time.Sleep(d)
	}
}

// raceEnv is two Profiles ("instances") on one Redis and one database, both
// reading through the delay hook, as two headline processes would.
type raceEnv struct {
	db     *bun.DB // plain, for setup and for checking MySQL
	hooked *bun.DB // readers' handle: the same pool with the delay hook
	delay  *selectDelay
	redis  *storetest.Redis
	a, b   *store.Profiles
	log    *syncBuffer
}

// newRaceClient is a client with timeouts long enough that a busy machine
// (-race, two CPUs) does not turn a slow DEL into a failed invalidation,
// which would leave a stale entry for a reason the race test is not about.
func newRaceClient(t *testing.T, opt *redis.Options) *redis.Client {
	t.Helper()
	opt.ReadTimeout = 3 * time.Second
	opt.WriteTimeout = 3 * time.Second
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// raceOpts are the defaults but for LeaseWait: a reader that finds another
// instance's lease waits for its fill, and when the update voids that lease
// the fill never comes, so the reader waits out LeaseWait before it loads by
// itself. 50ms of that in most rounds would make thousands of rounds take a
// minute; 5ms keeps the same paths (wait, give up, load without a lease)
// and makes them more frequent.
const (
	raceWindow = time.Millisecond
	raceSlow   = time.Millisecond
)

var raceOpts = store.ProfilesOptions{LeaseWait: 5 * time.Millisecond, LeasePoll: 500 * time.Microsecond}

func newRaceEnv(t *testing.T) *raceEnv {
	t.Helper()
	e := &raceEnv{db: storetest.DB(t, "store"), redis: storetest.NewRedis(t, redisDB), delay: &selectDelay{}, log: &syncBuffer{}}
	e.hooked = e.db.WithQueryHook(e.delay)
	logger := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.a = store.NewProfiles(e.hooked, rediscache.New(newRaceClient(t, e.redis.Options()), rediscache.TTLs{}), logger.With("instance", "a"), raceOpts)
	e.b = store.NewProfiles(e.hooked, rediscache.New(newRaceClient(t, e.redis.Options()), rediscache.TTLs{}), logger.With("instance", "b"), raceOpts)
	t.Cleanup(e.a.Close)
	t.Cleanup(e.b.Close)
	return e
}

// replace puts u in the database, replacing a row a previous run left.
func (e *raceEnv) replace(t *testing.T, u headline.User) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.db.NewDelete().TableExpr("user_basic").Where("user_id = ?", u.ID).Exec(ctx); err != nil {
		t.Fatalf("delete user %d: %v", u.ID, err)
	}
	if err := sqldb.InsertUsers(ctx, e.db, u); err != nil {
		t.Fatalf("insert user %d: %v", u.ID, err)
	}
}

// cachedName reads user:<id>:info: ok is false when it is absent, name is
// the cached name ("-1" or the raw value when it is not a profile).
func (e *raceEnv) cachedName(t *testing.T, id headline.UserID) (name string, ok bool) {
	t.Helper()
	v, err := e.redis.Raw.Get(context.Background(), rediscache.ProfileKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false
	}
	if err != nil {
		t.Fatalf("GET %s: %v", rediscache.ProfileKey(id), err)
	}
	var p struct {
		Name *string `json:"name"`
	}
	if json.Unmarshal([]byte(v), &p) != nil || p.Name == nil {
		return v, true
	}
	return *p.Name, true
}

// raceReader loads the profile of id the way one kind of reader does and
// returns the name it answered with.
type raceReader struct {
	name string
	read func(ctx context.Context, id headline.UserID) (string, error)
}

func profilesReader(name string, p *store.Profiles) raceReader {
	return raceReader{name, func(ctx context.Context, id headline.UserID) (string, error) {
		users, errs := p.Get(ctx, []headline.UserID{id})
		if errs[0] != nil {
			return "", errs[0]
		}
		if users[0] == nil {
			return "", fmt.Errorf("user %d not found", id)
		}
		return users[0].Name, nil
	}}
}

// naiveReader is cache-aside without leases, as the Flask app's
// UserProfileCache.get/save does it: GET; on a miss SELECT and a plain SET
// of what was read. Against an update that only deletes, it can put back a
// profile it read before the update: the race the leases close.
func naiveReader(db bun.IDB, rdb *redis.Client) raceReader {
	return raceReader{"naive", func(ctx context.Context, id headline.UserID) (string, error) {
		key := rediscache.ProfileKey(id)
		v, err := rdb.Get(ctx, key).Result()
		switch {
		case err == nil:
			var p struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal([]byte(v), &p); err != nil {
				return "", fmt.Errorf("cached %s: %w", v, err)
			}
			return p.Name, nil
		case !errors.Is(err, redis.Nil):
			return "", err
		}
		accounts, err := sqldb.GetAccounts(ctx, db, []headline.UserID{id})
		if err != nil {
			return "", err
		}
		a := accounts[id]
		if a == nil {
			return "", fmt.Errorf("user %d not found", id)
		}
		u := a.User
		// The Flask format: exactly name, photo, intro, certi.
		b, err := json.Marshal(map[string]*string{"name": &u.Name, "photo": u.Photo, "intro": u.Intro, "certi": u.Certi})
		if err != nil {
			return "", err
		}
		if err := rdb.Set(ctx, key, b, 30*time.Minute).Err(); err != nil {
			return "", err
		}
		return u.Name, nil
	}}
}

// raceResult is what hammer saw.
type raceResult struct {
	rounds      int
	slowRounds  int      // rounds whose reader SELECTs were slowed down
	stale       int      // rounds that left an old name in the cache
	staleDetail []string // the first few
	reads       int
	readsOld    int // readers that answered the name before the update (allowed: they overlapped it)
	lateOld     int // readers that started after the update returned and still answered the old name
	lateOldSame int // … of them, on the instance that ran the update
	late        int // readers that started after the update returned
	errs        []string
	elapsed     time.Duration
}

func (r raceResult) String() string {
	return fmt.Sprintf("%d rounds (%d with slowed SELECTs) in %v: %d stale entries; %d reads, %d answered the old name while overlapping the update, %d started after it returned (%d of them answered the old name, %d on the updating instance)",
		r.rounds, r.slowRounds, r.elapsed.Round(time.Millisecond), r.stale, r.reads, r.readsOld, r.late, r.lateOld, r.lateOldSame)
}

// raceSlot is one reader of a round and the index (in hammer's updaters) of
// the instance it reads through, for the late-read accounting; -1 for a
// reader of no instance (the naive one).
type raceSlot struct {
	reader   raceReader
	instance int
}

// hammer runs rounds of the race on id. Each round starts cold (no entry,
// no lease), starts the readers at random offsets within a few milliseconds
// and one update to the name "r<id>-v<round>" at another, waits for the update and
// for every reader that started before the update returned, and then reads
// the cache: absent or the new name, never an older one. It checks again
// once the late readers are done too. In odd rounds the readers' SELECTs are
// slowed by slow, so that the update often lands between a reader's SELECT
// and its write-back.
func hammer(t *testing.T, e *raceEnv, id headline.UserID, rounds int, window, slow time.Duration,
	slots []raceSlot, updaters []*store.Profiles) raceResult {
	t.Helper()
	r := &race{e: e, id: id, window: window, slots: slots, updaters: updaters, rng: rand.New(rand.NewPCG(uint64(id), 2013))}
	e.replace(t, headline.User{ID: id, Name: r.nameOf(0), Intro: ptr("race")})
	res := raceResult{rounds: rounds}
	start := time.Now()
	for round := 1; round <= rounds; round++ {
		if round%2 == 1 {
			e.delay.set(slow)
			res.slowRounds++
		} else {
			e.delay.set(0)
		}
		r.round(t, round, &res)
	}
	e.delay.set(0)
	res.elapsed = time.Since(start)
	return res
}

// race is what the rounds of one hammer share.
type race struct {
	e        *raceEnv
	id       headline.UserID
	window   time.Duration
	slots    []raceSlot
	updaters []*store.Profiles
	rng      *rand.Rand
}

// nameOf is the name round gives id: names are unique in user_basic, so
// each id has names of its own.
func (r *race) nameOf(round int) string { return fmt.Sprintf("r%d-v%d", r.id, round) }

// raceReads is what the readers of one round did.
type raceReads struct {
	early []bool // started before the update returned
	done  []chan struct{}
	names []string
	errs  []error
}

// round runs one round of hammer and adds what it saw to res.
func (r *race) round(t *testing.T, round int, res *raceResult) {
	t.Helper()
	ctx := context.Background()
	if err := r.e.redis.Raw.Del(ctx, rediscache.ProfileKey(r.id), rediscache.LeaseKey(r.id)).Err(); err != nil {
		t.Fatalf("round %d: cold start: %v", round, err)
	}
	newName := r.nameOf(round)
	upd := (round / 2) % len(r.updaters)
	var updated atomic.Bool
	var checked sync.WaitGroup // readers past their "before or after the update?" check
	reads := r.startReaders(ctx, &updated, &checked)
	r.update(t, ctx, round, upd, newName, &updated)
	checked.Wait()
	for i := range r.slots {
		if reads.early[i] {
			<-reads.done[i]
		}
	}
	stale := false
	check := func(when string) {
		if got, ok := r.e.cachedName(t, r.id); ok && got != newName && !stale {
			stale = true
			res.stale++
			if len(res.staleDetail) < 5 {
				res.staleDetail = append(res.staleDetail, fmt.Sprintf("round %d, %s: cache holds %q, want %q or nothing", round, when, got, newName))
			}
		}
	}
	check("after the update and the readers that started before it")
	for i := range r.slots {
		<-reads.done[i]
	}
	check("after every reader of the round")
	r.tally(round, upd, reads, res)
}

// startReaders starts each slot's reader at a random offset within the
// window; each notes whether the update had returned when it started.
func (r *race) startReaders(ctx context.Context, updated *atomic.Bool, checked *sync.WaitGroup) raceReads {
	n := len(r.slots)
	reads := raceReads{early: make([]bool, n), done: make([]chan struct{}, n), names: make([]string, n), errs: make([]error, n)}
	offsets := make([]time.Duration, n)
	for i := range r.slots {
		offsets[i] = time.Duration(r.rng.Int64N(int64(r.window)))
		reads.done[i] = make(chan struct{})
	}
	checked.Add(n)
	for i, s := range r.slots {
		go func() {
			defer close(reads.done[i])
			time.Sleep(offsets[i])
			reads.early[i] = !updated.Load()
			checked.Done()
			reads.names[i], reads.errs[i] = s.reader.read(ctx, r.id)
		}()
	}
	return reads
}

// update renames the user to newName through updater upd at a random
// offset, and waits for it.
func (r *race) update(t *testing.T, ctx context.Context, round, upd int, newName string, updated *atomic.Bool) {
	t.Helper()
	updOffset := time.Duration(r.rng.Int64N(int64(r.window + r.window/2)))
	var updErr error
	var updUser *headline.User
	updDone := make(chan struct{})
	go func() {
		defer close(updDone)
		time.Sleep(updOffset)
		uctx := context.WithValue(ctx, updaterKey{}, true)
		updUser, updErr = r.updaters[upd].Update(uctx, r.id, headline.ProfileUpdate{Name: headline.Change[*string]{Set: true, Value: &newName}})
		updated.Store(true)
	}()
	<-updDone
	if updErr != nil {
		t.Fatalf("round %d: update: %v", round, updErr)
	}
	if updUser == nil || updUser.Name != newName {
		t.Fatalf("round %d: update returned %s, want name %q", round, storetest.ShowUser(updUser), newName)
	}
}

// tally adds what the readers of a round answered to res.
func (r *race) tally(round, upd int, reads raceReads, res *raceResult) {
	oldName, newName := r.nameOf(round-1), r.nameOf(round)
	for i, s := range r.slots {
		res.reads++
		switch {
		case reads.errs[i] != nil:
			res.errs = append(res.errs, fmt.Sprintf("round %d: %s reader: %v", round, s.reader.name, reads.errs[i]))
		case reads.names[i] != oldName && reads.names[i] != newName:
			res.errs = append(res.errs, fmt.Sprintf("round %d: %s reader answered %q, want %q or %q", round, s.reader.name, reads.names[i], oldName, newName))
		case reads.names[i] == oldName && !reads.early[i]:
			res.lateOld++
			if s.instance == upd {
				res.lateOldSame++
			}
		case reads.names[i] == oldName:
			res.readsOld++
		}
		if !reads.early[i] {
			res.late++
		}
	}
}

// raceRounds is def, or more when HEADLINE_RACE_ROUNDS asks for more.
func raceRounds(t *testing.T, def int) int {
	t.Helper()
	v := os.Getenv(raceRoundsEnv)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", raceRoundsEnv, v)
	}
	return max(n, def)
}

// TestLeaseRaceUpdateNeverLeavesStaleEntry is the race test: readers
// on two instances and one updater hammer one id; after an update returns
// and the readers that started before it are done, the cache holds the new
// name or nothing.
func TestLeaseRaceUpdateNeverLeavesStaleEntry(t *testing.T) {
	e := newRaceEnv(t)
	rounds := raceRounds(t, 2000)
	slots := []raceSlot{
		{profilesReader("a", e.a), 0}, {profilesReader("a", e.a), 0},
		{profilesReader("b", e.b), 1}, {profilesReader("b", e.b), 1},
	}
	res := hammer(t, e, storetest.IDs(t, 1), rounds, raceWindow, raceSlow, slots, []*store.Profiles{e.a, e.b})
	t.Logf("with leases: %s", res)
	if res.stale != 0 {
		t.Errorf("%d of %d rounds left an old profile in the cache, want 0:\n%s", res.stale, res.rounds, strings.Join(res.staleDetail, "\n"))
	}
	for i, msg := range res.errs {
		if i == 10 {
			t.Errorf("… and %d more reader faults", len(res.errs)-10)
			break
		}
		t.Error(msg)
	}
	if res.lateOldSame != 0 {
		t.Errorf("%d reads on the instance that ran the update started after it returned and still answered the old name; want 0 (the update drops its instance's loads)", res.lateOldSame)
	}
	if strings.Contains(e.log.String(), "could not be invalidated") {
		t.Errorf("an invalidation failed during the race; the count above is then not about leases:\n%s", e.log.String())
	}
	if t.Failed() {
		t.Logf("log:\n%s", e.log.String())
	}
}

// TestLeaseRaceNaiveDeleteOnlyLeavesStaleEntries tests the test: the same
// rounds against readers without leases (GET, SELECT, plain SET), with the
// same update, must leave old names in the cache. If they did not, the race
// test above could not fail.
func TestLeaseRaceNaiveDeleteOnlyLeavesStaleEntries(t *testing.T) {
	e := newRaceEnv(t)
	rounds := raceRounds(t, 500)
	rdb := newRaceClient(t, e.redis.Options())
	naive := naiveReader(e.hooked, rdb)
	slots := []raceSlot{{naive, -1}, {naive, -1}, {naive, -1}, {naive, -1}}
	res := hammer(t, e, storetest.IDs(t, 1), rounds, raceWindow, raceSlow, slots, []*store.Profiles{e.a, e.b})
	t.Logf("naive delete-only cache-aside: %s", res)
	if res.stale == 0 {
		t.Errorf("the naive reader left no stale entry in %d rounds: the race test cannot tell leases from none", res.rounds)
	} else {
		t.Logf("first stale entries:\n%s", strings.Join(res.staleDetail, "\n"))
	}
	for i, msg := range res.errs {
		if i == 10 {
			break
		}
		t.Error(msg)
	}
}

// pauseAfterSelect is a query hook that, once armed, stops the next reader
// SELECT after it ran (before its write-back) until released.
type pauseAfterSelect struct {
	armed   atomic.Bool
	paused  chan struct{}
	release chan struct{}
}

func (h *pauseAfterSelect) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}

func (h *pauseAfterSelect) AfterQuery(ctx context.Context, e *bun.QueryEvent) {
	if ctx.Value(updaterKey{}) != nil || e.Operation() != "SELECT" || !h.armed.CompareAndSwap(true, false) {
		return
	}
	close(h.paused)
	<-h.release
}

// TestLeaseUpdateDuringLoadIsNotFilledBack is the race made deterministic: a
// reader's load is stopped after its SELECT read the old row; an update (on
// another instance) commits and invalidates; the reader goes on. It answers
// the old name (it overlapped the update) but its write-back is refused:
// the update voided its lease. The next read loads and caches the new name.
func TestLeaseUpdateDuringLoadIsNotFilledBack(t *testing.T) {
	id := storetest.IDs(t, 1)
	ctx := context.Background()
	e := newRaceEnv(t)
	e.replace(t, headline.User{ID: id, Name: fmt.Sprintf("before-%d", id), Photo: ptr(fmt.Sprintf("https://img/%d.png", id))})
	hook := &pauseAfterSelect{paused: make(chan struct{}), release: make(chan struct{})}
	rc := newRaceClient(t, e.redis.Options())
	reader := store.NewProfiles(e.db.WithQueryHook(hook), rediscache.New(rc, rediscache.TTLs{}), slog.New(slog.NewTextHandler(e.log, nil)), store.ProfilesOptions{})
	t.Cleanup(reader.Close)
	hook.armed.Store(true)

	got := make(chan *headline.User, 1)
	go func() {
		users, errs := reader.Get(ctx, []headline.UserID{id})
		if errs[0] != nil {
			t.Errorf("Get: %v", errs[0])
		}
		got <- users[0]
	}()
	select {
	case <-hook.paused:
	case <-time.After(10 * time.Second):
		t.Fatal("the reader never reached its SELECT")
	}
	if n, err := e.redis.Raw.Exists(ctx, rediscache.LeaseKey(id)).Result(); err != nil || n != 1 {
		t.Fatalf("while loading, %s exists = %d (%v), want the reader's lease", rediscache.LeaseKey(id), n, err)
	}
	name := fmt.Sprintf("after-%d", id)
	u, err := e.a.Update(ctx, id, headline.ProfileUpdate{Name: headline.Change[*string]{Set: true, Value: &name}})
	if err != nil || u.Name != name {
		t.Fatalf("Update = %s, %v; want name %q", storetest.ShowUser(u), err, name)
	}
	if n, err := e.redis.Raw.Exists(ctx, rediscache.LeaseKey(id)).Result(); err != nil || n != 0 {
		t.Fatalf("after the update, %s exists = %d (%v), want the lease voided", rediscache.LeaseKey(id), n, err)
	}
	// A request that starts after the update returned, on the instance
	// whose load is still under way, joins that load.
	joined := make(chan *headline.User, 1)
	go func() {
		users, errs := reader.Get(ctx, []headline.UserID{id})
		if errs[0] != nil {
			t.Errorf("joined Get: %v", errs[0])
		}
		joined <- users[0]
	}()
	time.Sleep(50 * time.Millisecond) // let it reach the load it joins
	close(hook.release)
	// The load finds its lease voided, reads the row again and answers
	// the update: neither the reader (which overlapped the update) nor the
	// request that started after it sees the old name.
	for who, ch := range map[string]chan *headline.User{"the paused reader": got, "the request that joined its load": joined} {
		if u := <-ch; u == nil || u.Name != name {
			t.Errorf("%s answered %s, want %q", who, storetest.ShowUser(u), name)
		}
	}
	if v, ok := e.cachedName(t, id); ok {
		t.Errorf("after the voided load, %s holds %q, want nothing", rediscache.ProfileKey(id), v)
	}
	users, errs := e.b.Get(ctx, []headline.UserID{id})
	if errs[0] != nil || users[0] == nil || users[0].Name != name {
		t.Fatalf("next Get = %s, %v; want %q", storetest.ShowUser(users[0]), errs[0], name)
	}
	if v, ok := e.cachedName(t, id); !ok || v != name {
		t.Errorf("after the next load, %s = %q (present %v), want %q", rediscache.ProfileKey(id), v, ok, name)
	}
}

// TestLeaseUpdateRedisDown: MySQL is the truth. With Redis unreachable the
// update still succeeds, and the failed invalidation is logged.
func TestLeaseUpdateRedisDown(t *testing.T) {
	id := storetest.IDs(t, 1)
	ctx := context.Background()
	opt := storetest.NewRedis(t, redisDB).Options()
	opt.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(storetest.FreePort(t)))
	e := newProfilesEnv(t, opt, nil)
	e.insert(t, headline.User{ID: id, Name: fmt.Sprintf("before-%d", id), Intro: ptr("old intro")})
	name, photo := fmt.Sprintf("  after-%d ", id), fmt.Sprintf("https://img/%d.png", id)
	upd, err := headline.ProfileUpdate{
		Name:  headline.Change[*string]{Set: true, Value: &name},
		Intro: headline.Change[*string]{Set: true},
		Photo: headline.Change[*string]{Set: true, Value: &photo},
	}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.p.Update(ctx, id, upd)
	want := &headline.User{ID: id, Name: fmt.Sprintf("after-%d", id), Photo: &photo}
	if err != nil || storetest.ShowUser(u) != storetest.ShowUser(want) {
		t.Fatalf("Update with Redis down = %s, %v; want %s, nil", storetest.ShowUser(u), err, storetest.ShowUser(want))
	}
	rows, err := sqldb.GetAccounts(ctx, e.db, []headline.UserID{id})
	if err != nil || rows[id] == nil || storetest.ShowUser(&rows[id].User) != storetest.ShowUser(want) || rows[id].Disabled {
		t.Errorf("MySQL has %+v (%v), want %s, enabled", rows[id], err, storetest.ShowUser(want))
	}
	log := e.log.String()
	if !strings.Contains(log, "could not be invalidated") || !strings.Contains(log, "user="+strconv.FormatInt(id, 10)) || !strings.Contains(log, "level=ERROR") {
		t.Errorf("want an ERROR log line naming user %d and the failed invalidation; log:\n%s", id, log)
	}
}
