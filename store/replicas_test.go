package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/store"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/sqldb"
	"github.com/headline/headline/store/storetest"
)

// replicaEnv is a MariaDB primary with one replica, both of the test's own,
// and a Redis, on which the test opens Profiles instances as servers would.
type replicaEnv struct {
	primary, replica *storetest.MariaDB
	redis            *storetest.Redis
	log              *syncBuffer
}

func newReplicaEnv(t *testing.T) *replicaEnv {
	t.Helper()
	e := &replicaEnv{redis: storetest.NewRedis(t, redisDB), log: &syncBuffer{}}
	e.primary, e.replica = storetest.StartMariaDBReplicated(t)
	return e
}

// open is one server's Profiles: the primary with reads routed to the
// replica, and the shared Redis.
func (e *replicaEnv) open(t *testing.T, ropts sqldb.ReplicaOptions, fresh time.Duration) (*store.Profiles, *sqldb.Replicas) {
	t.Helper()
	ropts.Log = slog.New(slog.NewTextHandler(e.log, nil))
	ropts.CheckInterval = 50 * time.Millisecond
	db, rs, err := sqldb.OpenMySQLWithReplicas(e.primary.DSN, []string{e.replica.DSN}, sqldb.PoolOptions{MaxOpen: 4}, ropts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	logger := slog.New(slog.NewTextHandler(e.log, nil))
	p := store.NewProfiles(db, rediscache.New(storetest.ShortTimeoutClient(t, e.redis.Options()), rediscache.TTLs{}), logger,
		store.ProfilesOptions{Replicas: rs, FreshWindow: fresh})
	t.Cleanup(p.Close)
	return p, rs
}

// selects returns the SELECTs each server ran since the last call.
func (e *replicaEnv) selects(t *testing.T) func() (primary, replica int64) {
	t.Helper()
	p0, r0 := e.primary.GlobalStatus(t, "Com_select"), e.replica.GlobalStatus(t, "Com_select")
	return func() (int64, int64) {
		p1, r1 := e.primary.GlobalStatus(t, "Com_select"), e.replica.GlobalStatus(t, "Com_select")
		dp, dr := p1-p0, r1-r0
		p0, r0 = p1, r1
		return dp, dr
	}
}

func (e *replicaEnv) name(t *testing.T, p *store.Profiles, id headline.UserID) string {
	t.Helper()
	users, errs := p.Get(context.Background(), []headline.UserID{id})
	if errs[0] != nil {
		t.Fatalf("get %d: %v", id, errs[0])
	}
	if users[0] == nil {
		t.Fatalf("get %d: no user", id)
	}
	return users[0].Name
}

// replicaName reads id's name on the replica itself, bypassing everything.
func (e *replicaEnv) replicaName(t *testing.T, id headline.UserID) string {
	t.Helper()
	var name string
	if err := e.replica.Admin.QueryRowContext(context.Background(),
		"SELECT user_name FROM "+storetest.MariaDBName+".user_basic WHERE user_id = ?", id).Scan(&name); err != nil {
		t.Fatal(err)
	}
	return name
}

func (e *replicaEnv) admin(t *testing.T, m *storetest.MariaDB, q string) {
	t.Helper()
	if _, err := m.Admin.ExecContext(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (e *replicaEnv) uncache(t *testing.T, id headline.UserID) {
	t.Helper()
	if err := e.redis.Raw.Del(context.Background(), rediscache.ProfileKey(id)).Err(); err != nil {
		t.Fatal(err)
	}
}

func inRotation(rs *sqldb.Replicas) bool { return rs.States()[0].Reads }

// TestReplicaLagDoesNotPoisonTheCache updates a user while the replica's SQL
// thread is stopped, so the replica keeps the old row, and checks that no
// instance puts that row back into the cache: first through the marker the
// update leaves (lag check off, so that only the marker protects), then,
// once the marker has expired, through the lag check.
func TestReplicaLagDoesNotPoisonTheCache(t *testing.T) {
	e := newReplicaEnv(t)
	id, other := storetest.IDs(t, 1), storetest.IDs(t, 1)
	e.primary.Seed(t, headline.User{ID: id, Name: "before"}, headline.User{ID: other, Name: "other"})
	e.replica.WaitCaughtUp(t, e.primary)

	const fresh = time.Second
	a, _ := e.open(t, sqldb.ReplicaOptions{NoLagCheck: true}, fresh) // the instance that updates
	b, _ := e.open(t, sqldb.ReplicaOptions{NoLagCheck: true}, fresh) // another instance
	delta := e.selects(t)
	// read reads id through p and checks the name and where the SELECTs
	// went: primary and replica count them from here.
	read := func(what string, p *store.Profiles, id headline.UserID, want string, primary, replica int64) {
		t.Helper()
		delta()
		if got := e.name(t, p, id); got != want {
			t.Fatalf("%s: %q, want %q", what, got, want)
		}
		if p, r := delta(); p != primary || r != replica {
			t.Fatalf("%s: %d SELECTs on the primary, %d on the replica; want %d, %d", what, p, r, primary, replica)
		}
	}

	read("cold read", b, id, "before", 0, 1)

	e.admin(t, e.replica, "STOP SLAVE SQL_THREAD")
	name := "after"
	if _, err := a.Update(context.Background(), id, headline.ProfileUpdate{Name: headline.Change[*string]{Set: true, Value: &name}}); err != nil {
		t.Fatal(err)
	}
	if got := e.replicaName(t, id); got != "before" {
		t.Fatalf("the replica already has %q: the test would prove nothing", got)
	}

	// Instance b misses (the update deleted the entry), sees the marker in
	// its lease pipeline, and loads from the primary.
	read("read after the update on another instance", b, id, "after", 1, 0)
	read("warm read", a, id, "after", 0, 0)
	// Other ids still read from the replica: the marker is per user.
	e.uncache(t, other)
	read("read of another user", b, other, "other", 0, 1)

	// Past the window, with the lag check off, the stale replica would be
	// read: this is what the lag check is for. The marker is deleted as its
	// TTL would (miniredis does not expire keys by the clock).
	if ttl := e.redis.Raw.PTTL(context.Background(), rediscache.WrittenKey(id)).Val(); ttl <= 0 || ttl > fresh {
		t.Fatalf("marker TTL %v, want (0, %v]", ttl, fresh)
	}
	if err := e.redis.Raw.Del(context.Background(), rediscache.WrittenKey(id)).Err(); err != nil {
		t.Fatal(err)
	}
	e.uncache(t, id)
	if got := e.name(t, b, id); got != "before" {
		t.Fatalf("without marker or lag check: %q; the test would prove nothing", got)
	}
	e.uncache(t, id)

	opened := time.Now()
	c, rs := e.open(t, sqldb.ReplicaOptions{MaxLag: time.Second}, fresh)
	storetest.WaitUntil(t, "the stopped replica out of rotation", 5*time.Second, func() bool { return !inRotation(rs) })
	t.Logf("the stopped replica was out of rotation %v after the instance opened (lag read every 50ms)", time.Since(opened).Round(time.Millisecond))
	if st := rs.States()[0]; st.Why != "behind" {
		t.Fatalf("replica state %+v, want out as behind", st)
	}
	read("lag check on, marker expired", c, id, "after", 1, 0)
	if v, _ := e.redis.Raw.Get(context.Background(), rediscache.ProfileKey(id)).Result(); !strings.Contains(v, `"after"`) {
		t.Fatalf("cache holds %q", v)
	}

	e.admin(t, e.replica, "START SLAVE SQL_THREAD")
	e.replica.WaitCaughtUp(t, e.primary)
	storetest.WaitUntil(t, "the replica back in rotation", 5*time.Second, func() bool { return inRotation(rs) })
	e.uncache(t, id)
	read("caught-up replica", c, id, "after", 0, 1)
	if !strings.Contains(e.log.String(), "mysql replica is behind") || !strings.Contains(e.log.String(), "caught up") {
		t.Errorf("log says nothing of the replica leaving and rejoining:\n%s", e.log)
	}
}

// TestReplicaFailureIsNotAnError kills the replica: reads go on from the
// primary without an error, the replica is left out while it is down, and
// takes reads again after it comes back.
func TestReplicaFailureIsNotAnError(t *testing.T) {
	e := newReplicaEnv(t)
	var users []headline.User
	first := storetest.IDs(t, 5)
	for i := range 5 {
		users = append(users, headline.User{ID: first + headline.UserID(i), Name: fmt.Sprintf("u%d", i)})
	}
	e.primary.Seed(t, users...)
	e.replica.WaitCaughtUp(t, e.primary)
	p, rs := e.open(t, sqldb.ReplicaOptions{NoLagCheck: true, Retry: 500 * time.Millisecond}, time.Second)

	e.replica.Kill()
	for _, u := range users[:4] {
		if got := e.name(t, p, u.ID); got != u.Name {
			t.Fatalf("replica dead: %q", got)
		}
	}
	if st := rs.States()[0]; st.Reads || st.Why != "failed" {
		t.Fatalf("replica state %+v, want out as failed", st)
	}
	if n := strings.Count(e.log.String(), "mysql replica failed"); n != 1 {
		t.Fatalf("%d log lines of the replica failing, want 1 (it is left out, not tried per read):\n%s", n, e.log)
	}

	e.replica.Start(t)
	storetest.WaitUntil(t, "the replica back in rotation", 5*time.Second, func() bool { return inRotation(rs) })
	r0 := e.replica.GlobalStatus(t, "Com_select")
	if got := e.name(t, p, users[4].ID); got != users[4].Name {
		t.Fatalf("replica back: %q", got)
	}
	if r := e.replica.GlobalStatus(t, "Com_select") - r0; r != 1 {
		t.Fatalf("replica back: %d SELECTs on it, want 1", r)
	}
}
