package store_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/store"
	"github.com/headline/headline/store/persisted"
	"github.com/headline/headline/store/storetest"
)

// Every store.Observer serves the persisted queries too.
var _ persisted.Observer = store.Observer(nil)

type markKey struct{}

// recorder is a store.Observer that notes each call, and whether its
// context carried the test's mark.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) note(ctx context.Context, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	call := fmt.Sprintf(format, args...)
	if ctx.Value(markKey{}) == nil {
		call += " (without the request's context)"
	}
	r.calls = append(r.calls, call)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	calls := r.calls
	r.calls = nil
	return calls
}

func (r *recorder) Batch(ctx context.Context, keys int) { r.note(ctx, "Batch %d", keys) }
func (r *recorder) CacheRead(ctx context.Context, c store.CacheRead) {
	r.note(ctx, "CacheRead %+v", c)
}
func (r *recorder) Joined(ctx context.Context, ids int)       { r.note(ctx, "Joined %d", ids) }
func (r *recorder) RedisError(ctx context.Context, op string) { r.note(ctx, "RedisError %s", op) }
func (r *recorder) SQL(ctx context.Context, op string, _ time.Duration, rows int) {
	r.note(ctx, "SQL %s rows=%d", op, rows)
}
func (r *recorder) APQRegistration(ctx context.Context, result string) {
	r.note(ctx, "APQRegistration %s", result)
}

// TestObserverSeesEachBatchInItsContext: a batch is reported once, with
// what its cache read found, its joined loads and its SELECT, each with the
// context of the lookup (the load's SELECT included, though it is detached
// from the lookup's cancellation): the request log's counters find their
// request there.
func TestObserverSeesEachBatchInItsContext(t *testing.T) {
	base := storetest.IDs(t, 4)
	ids := []headline.UserID{base, base + 1, base + 2, base + 3}
	ctx := context.WithValue(context.Background(), markKey{}, true)
	want := func(t *testing.T, rec *recorder, calls ...string) {
		t.Helper()
		if got := rec.take(); fmt.Sprint(got) != fmt.Sprint(calls) {
			t.Errorf("observed\n%q\nwant\n%q", got, calls)
		}
	}

	t.Run("cold, then warm, through Redis", func(t *testing.T) {
		rec := &recorder{}
		e := newProfilesEnvWith(t, nil, nil, store.ProfilesOptions{Observer: rec})
		e.insert(t, headline.User{ID: ids[0], Name: "o0"}, headline.User{ID: ids[1], Name: "o1"})
		e.set(t, ids[2], "-1")
		e.set(t, ids[3], `{"name": "o3", "photo": null, "intro": null, "certi": null}`)
		e.p.Get(ctx, ids)
		want(t, rec, "Batch 4",
			"CacheRead {Hit:1 Miss:2 Negative:1 Corrupt:0 Answered:2 Unanswered:2 Local:0}",
			"Joined 0", "SQL select_users rows=2")
		e.set(t, ids[1], `{"name": "o1`) // corrupt
		e.p.Get(ctx, ids)
		want(t, rec, "Batch 4",
			"CacheRead {Hit:2 Miss:0 Negative:1 Corrupt:1 Answered:3 Unanswered:1 Local:0}",
			"Joined 0", "SQL select_users rows=1")
	})

	t.Run("Redis unreachable", func(t *testing.T) {
		rec := &recorder{}
		opt := storetest.NewRedis(t, redisDB).Options()
		opt.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(storetest.FreePort(t)))
		e := newProfilesEnvWith(t, opt, nil, store.ProfilesOptions{Observer: rec})
		e.p.Get(ctx, ids[:2])
		want(t, rec, "Batch 2", "RedisError read",
			"CacheRead {Hit:0 Miss:0 Negative:0 Corrupt:0 Answered:0 Unanswered:2 Local:0}",
			"Joined 0", "SQL select_users rows=2")
	})
}
