package dataloaders

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/store"
)

// recorder is a ProfileGetter that records its batches and fails the ids in
// fail once each. Accounts of odd ids are disabled.
type recorder struct {
	mu      sync.Mutex
	batches [][]Key
	fail    map[headline.UserID]bool
}

func (r *recorder) Lookup(_ context.Context, keys []Key) Results {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, slices.Clone(keys))
	res := store.MakeResults(len(keys), slices.ContainsFunc(keys, func(k Key) bool { return k.WithStatus }))
	for i, k := range keys {
		if r.fail[k.ID] {
			delete(r.fail, k.ID)
			res.Errs[i] = errors.New("database down")
			continue
		}
		if k.ID < 1000 {
			res.Users[i] = &headline.User{ID: k.ID, Name: "u"}
			if k.WithStatus {
				res.Disabled[i] = k.ID%2 == 1
			}
		}
	}
	return res
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.batches)
}

func TestPlannedLookupsAreOneBatchWithoutWaiting(t *testing.T) {
	rec := &recorder{}
	// A window this long would show in the elapsed time if planned
	// lookups waited for it.
	l := New(rec, Options{Wait: 2 * time.Second})
	ctx := context.Background()
	keys := []Key{{ID: 1}, {ID: 2}, {ID: 2}, {ID: 3, WithStatus: true}, {ID: 5000}}
	start := time.Now()
	pr := l.Plan(ctx, keys)
	planned, plannedErrs := pr.Users, pr.Errs
	if len(planned) != len(keys) || len(plannedErrs) != len(keys) {
		t.Fatalf("Plan answered %d users and %d errors for %d keys", len(planned), len(plannedErrs), len(keys))
	}
	for i, k := range keys {
		if plannedErrs[i] != nil || (k.ID < 1000) != (planned[i] != nil) || (planned[i] != nil && planned[i].ID != k.ID) {
			t.Errorf("Plan's result %d for %v = %v, %v", i, k, planned[i], plannedErrs[i])
		}
	}

	var wg sync.WaitGroup
	for _, id := range []headline.UserID{1, 2, 5000} {
		wg.Go(func() {
			u, err := l.User(ctx, id)
			if err != nil || (id < 1000) != (u != nil) {
				t.Errorf("User(%d) = %v, %v", id, u, err)
			}
		})
	}
	wg.Go(func() {
		if u, _, err := l.Account(ctx, 3); err != nil || u == nil {
			t.Errorf("Account(3) = %v, %v", u, err)
		}
	})
	lr := l.Load(ctx, []Key{{ID: 2}, {ID: 1}, {ID: 5000}})
	users, errs := lr.Users, lr.Errs
	wg.Wait()
	if errs[0] != nil || users[0].ID != 2 || users[1].ID != 1 || users[2] != nil {
		t.Errorf("Users = %v, %v; want 2, 1, nil in order", users, errs)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("planned lookups took %v: they waited for the window", d)
	}
	if got := rec.count(); got != 1 {
		t.Fatalf("%d batches, want 1: %v", got, rec.batches)
	}
	if got := len(rec.batches[0]); got != 4 {
		t.Errorf("batch of %d keys, want 4 distinct: %v", got, rec.batches[0])
	}
}

func TestPlanLooksEachKeyUpOnce(t *testing.T) {
	// Short lists are deduplicated by comparing keys, long ones with a map.
	for _, n := range []int{4, 40} {
		var keys []Key
		for i := range n {
			keys = append(keys, Key{ID: headline.UserID(i%(n/2) + 1), WithStatus: i%4 == 3})
		}
		distinct := map[Key]bool{}
		for _, k := range keys {
			distinct[k] = true
		}
		rec := &recorder{}
		r := New(rec, Options{}).Plan(context.Background(), keys)
		users, errs := r.Users, r.Errs
		if got := rec.count(); got != 1 {
			t.Fatalf("%d keys: %d batches, want 1", n, got)
		}
		if got, want := len(rec.batches[0]), len(distinct); got != want {
			t.Errorf("%d keys: a batch of %d keys, want the %d distinct ones: %v", n, got, want, rec.batches[0])
		}
		for i, k := range keys {
			if errs[i] != nil || users[i] == nil || users[i].ID != k.ID {
				t.Errorf("%d keys: result %d for %v = %v, %v; want user %d", n, i, k, users[i], errs[i], k.ID)
			}
		}
	}
}

// panicker is a ProfileGetter that panics, as a bug in the store would.
type panicker struct{ calls int }

func (p *panicker) Lookup(context.Context, []Key) Results {
	p.calls++
	panic("nil map")
}

// short is a ProfileGetter that breaks the contract: one result too few.
type short struct{}

func (short) Lookup(_ context.Context, keys []Key) Results {
	return store.MakeResults(len(keys)-1, false)
}

func TestABrokenGetterFailsThePlannedKeysNotTheRequest(t *testing.T) {
	for name, getter := range map[string]ProfileGetter{"a panic": &panicker{}, "too few results": short{}} {
		l := New(getter, Options{Wait: time.Millisecond})
		ctx := context.Background()
		r := l.Plan(ctx, []Key{{ID: 1}, {ID: 2}, {ID: 1}})
		users, errs := r.Users, r.Errs
		if len(users) != 3 || len(errs) != 3 {
			t.Fatalf("%s: %d users and %d errors for 3 keys", name, len(users), len(errs))
		}
		for i := range errs {
			if errs[i] == nil || users[i] != nil {
				t.Errorf("%s: key %d = %v, %v; want an error", name, i, users[i], errs[i])
			}
		}
		if _, err := l.User(ctx, 1); err == nil {
			t.Errorf("%s: an unplanned lookup after the failed plan did not fail", name)
		}
	}
	p := &panicker{}
	l := New(p, Options{Wait: time.Millisecond})
	l.Plan(context.Background(), []Key{{ID: 1}})
	_, _ = l.User(context.Background(), 1)
	if p.calls != 2 {
		t.Errorf("the getter was called %d times, want 2: a failed key must be tried again", p.calls)
	}
}

func TestUnplannedLookupsShareTheWindow(t *testing.T) {
	rec := &recorder{}
	l := New(rec, Options{Wait: 50 * time.Millisecond})
	ctx := context.Background()
	var wg sync.WaitGroup
	for id := range headline.UserID(10) {
		wg.Go(func() { _, _ = l.User(ctx, id+1) })
	}
	wg.Wait()
	if got := rec.count(); got != 1 {
		t.Errorf("%d batches for 10 concurrent lookups in a 50ms window, want 1", got)
	}
}

func TestAFailedLookupIsNotKept(t *testing.T) {
	for _, planned := range []bool{false, true} {
		rec := &recorder{fail: map[headline.UserID]bool{7: true}}
		l := New(rec, Options{Wait: time.Millisecond})
		ctx := context.Background()
		var err error
		if planned {
			err = l.Plan(ctx, []Key{{ID: 7}}).Errs[0]
		} else {
			_, err = l.User(ctx, 7)
		}
		if err == nil {
			t.Fatalf("planned=%v: first lookup did not fail", planned)
		}
		u, err := l.User(ctx, 7)
		if err != nil || u == nil {
			t.Errorf("planned=%v: the retry got %v, %v; a failure must not stick for the request", planned, u, err)
		}
		if got := rec.count(); got != 2 {
			t.Errorf("planned=%v: %d batches, want 2", planned, got)
		}
	}
}

func TestPrimeReplacesWhatTheRequestKnows(t *testing.T) {
	rec := &recorder{}
	l := New(rec, Options{Wait: time.Millisecond})
	ctx := context.Background()
	l.Plan(ctx, []Key{{ID: 1}})
	if u, _ := l.User(ctx, 1); u.Name != "u" {
		t.Fatalf("before: %v", u)
	}
	l.Prime(ctx, &headline.User{ID: 1, Name: "new"})
	if u, _ := l.User(ctx, 1); u == nil || u.Name != "new" {
		t.Errorf("after Prime: %v, want the primed user", u)
	}
	if got := rec.count(); got != 1 {
		t.Errorf("%d batches; a primed key must not be loaded", got)
	}
}

// TestAccountsSayWhetherTheyAreDisabled: a key WithStatus carries the
// account's status however it is looked up (planned, twice in one plan,
// unplanned, in a list), and a key without it says nothing of it.
func TestAccountsSayWhetherTheyAreDisabled(t *testing.T) {
	rec := &recorder{}
	l := New(rec, Options{Wait: time.Millisecond})
	ctx := context.Background()
	r := l.Plan(ctx, []Key{{ID: 13, WithStatus: true}, {ID: 13}, {ID: 12, WithStatus: true}, {ID: 13, WithStatus: true}})
	if got := []bool{r.IsDisabled(0), r.IsDisabled(1), r.IsDisabled(2), r.IsDisabled(3)}; !slices.Equal(got, []bool{true, false, false, true}) {
		t.Errorf("Plan: disabled %v, want [true false false true]", got)
	}
	for _, tc := range []struct {
		id       headline.UserID
		disabled bool
	}{{13, true}, {12, false}, {15, true}, {14, false}} { // planned, then not
		if u, disabled, err := l.Account(ctx, tc.id); err != nil || u == nil || disabled != tc.disabled {
			t.Errorf("Account(%d) = %v, %v, %v; want a user, disabled %v", tc.id, u, disabled, err, tc.disabled)
		}
	}
	lr := l.Load(ctx, []Key{{ID: 17, WithStatus: true}, {ID: 17}, {ID: 13, WithStatus: true}})
	if got := []bool{lr.IsDisabled(0), lr.IsDisabled(1), lr.IsDisabled(2)}; !slices.Equal(got, []bool{true, false, true}) {
		t.Errorf("Load: disabled %v, want [true false true]", got)
	}
}

func TestMiddlewareGivesEachRequestItsOwnLoaders(t *testing.T) {
	var seen []*Loaders
	h := Middleware(&recorder{}, Options{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, For(r.Context()))
	}))
	for range 2 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}
	if len(seen) != 2 || seen[0] == nil || seen[0] == seen[1] {
		t.Errorf("loaders per request: %p, want two distinct", seen)
	}
}

func TestForWithoutMiddlewarePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("For on a bare context did not panic")
		}
	}()
	For(context.Background())
}
