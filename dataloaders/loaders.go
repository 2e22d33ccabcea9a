// Package dataloaders batches the lookups of one request. Loaders are built
// fresh for each HTTP request by Middleware and found with For: a loader
// shared across requests would batch one client's lookups under another's
// context and keep its errors.
package dataloaders

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/graph-gophers/dataloader/v7"

	"github.com/headline/headline"
)

// ProfileGetter is what the user loader batches onto: one call a batch, one
// result a key, in key order (store.Profiles).
type ProfileGetter interface {
	Lookup(ctx context.Context, keys []headline.Lookup) ([]*headline.User, []error)
}

// Options tunes the loaders; zero fields take their defaults.
type Options struct {
	// Wait is how long a batch of lookups that were not planned (see Plan)
	// collects keys after its first Load. The library's default, 16ms,
	// would be paid by every such request. Default: 500µs, which collected
	// 20 concurrently resolved fields into one batch 199 times in 200 (see
	// README); planned lookups do not wait at all.
	Wait time.Duration
	// MaxBatch caps the keys of one unplanned batch; more start another.
	// Default: 1000.
	MaxBatch int
	// ObserveBatch, when set, is told the number of keys of each batch,
	// planned or not (for metrics).
	ObserveBatch func(keys int)
}

func (o Options) withDefaults() Options {
	if o.Wait <= 0 {
		o.Wait = 500 * time.Microsecond
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1000
	}
	return o
}

type userLoader = dataloader.Loader[headline.Lookup, *headline.User]

// Loaders are the loaders of one request.
//
// A timed batch window is a poor fit for a GraphQL request: gqlgen resolves
// root fields on goroutines whose Loads spread over tens to hundreds of
// microseconds, so any window short enough not to tax latency sometimes
// splits a batch. So the GraphQL layer plans: before resolvers run, it
// reads every id the operation will look up and hands them to Plan, which
// loads them in one batch that starts at once (its capacity is exactly the
// planned keys). Lookups nobody planned go through a second loader with the
// timed window.
type Loaders struct {
	batch func(context.Context, []headline.Lookup) []*dataloader.Result[*headline.User]
	opts  Options

	mu      sync.Mutex
	planned map[headline.Lookup]dataloader.Thunk[*headline.User] // the plan's results, until forgotten
	plan    *userLoader                                          // nil until Plan
	users   *userLoader                                          // unplanned lookups
}

// New returns fresh loaders over profiles.
func New(profiles ProfileGetter, opts Options) *Loaders {
	opts = opts.withDefaults()
	batch := func(ctx context.Context, keys []headline.Lookup) []*dataloader.Result[*headline.User] {
		if opts.ObserveBatch != nil {
			opts.ObserveBatch(len(keys))
		}
		users, errs := profiles.Lookup(ctx, keys)
		out := make([]*dataloader.Result[*headline.User], len(keys))
		for i := range keys {
			out[i] = &dataloader.Result[*headline.User]{Data: users[i], Error: errs[i]}
		}
		return out
	}
	return &Loaders{
		batch: batch,
		opts:  opts,
		users: dataloader.NewBatchedLoader(batch,
			dataloader.WithWait[headline.Lookup, *headline.User](opts.Wait),
			dataloader.WithBatchCapacity[headline.Lookup, *headline.User](opts.MaxBatch),
		),
	}
}

// Plan starts loading ids, the lookups a request is known to make, as one
// batch, at once. Later User and Users calls for these ids share it. Only
// the first call plans; later ones are ignored.
func (l *Loaders) Plan(ctx context.Context, keys []headline.Lookup) {
	l.mu.Lock()
	if l.plan != nil || len(keys) == 0 {
		l.mu.Unlock()
		return
	}
	l.planned = make(map[headline.Lookup]dataloader.Thunk[*headline.User], len(keys))
	for _, k := range keys {
		l.planned[k] = nil
	}
	// The batch starts when the last distinct key arrives; the window is
	// only a backstop and is never reached.
	l.plan = dataloader.NewBatchedLoader(l.batch,
		dataloader.WithWait[headline.Lookup, *headline.User](time.Second),
		dataloader.WithBatchCapacity[headline.Lookup, *headline.User](len(l.planned)),
	)
	// Fields take the plan's thunks as they are: asking the loader again
	// for a key it holds costs a channel and a few closures each time.
	for k := range l.planned {
		l.planned[k] = l.plan.Load(ctx, k)
	}
	l.mu.Unlock()
}

// thunk returns the result of k: the plan's, or a load of the unplanned
// loader.
func (l *Loaders) thunk(ctx context.Context, k headline.Lookup) dataloader.Thunk[*headline.User] {
	l.mu.Lock()
	th, ok := l.planned[k]
	l.mu.Unlock()
	if ok {
		return th
	}
	return l.users.Load(ctx, k)
}

// User returns the profile of id, or nil when there is no such user.
func (l *Loaders) User(ctx context.Context, id headline.UserID) (*headline.User, error) {
	return l.load(ctx, headline.Lookup{ID: id})
}

// Account returns the profile of id with its account status, as sign-in
// needs it, or nil when there is no such user.
func (l *Loaders) Account(ctx context.Context, id headline.UserID) (*headline.User, error) {
	return l.load(ctx, headline.Lookup{ID: id, Status: true})
}

func (l *Loaders) load(ctx context.Context, k headline.Lookup) (*headline.User, error) {
	u, err := l.thunk(ctx, k)()
	if err != nil {
		l.forget(ctx, k)
	}
	return u, err
}

// forget drops a failed result: the loader keeps a key's result for the rest
// of the request, and a failed load must not stick, so a later field asking
// for the same id tries again, through the timed loader (the planned one has
// dispatched its only batch).
func (l *Loaders) forget(ctx context.Context, k headline.Lookup) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.planned[k]; ok {
		delete(l.planned, k)
		l.plan.Clear(ctx, k)
		return
	}
	l.users.Clear(ctx, k)
}

// Users returns the profiles of ids in their order, nil where there is no
// such user, and errs with one entry per id (nil where it loaded).
func (l *Loaders) Users(ctx context.Context, ids []headline.UserID) (users []*headline.User, errs []error) {
	// Load each key from this goroutine before waiting on any: the library's
	// LoadMany starts a goroutine per key, which spreads one list over
	// several batches.
	thunks := make([]dataloader.Thunk[*headline.User], len(ids))
	for i, id := range ids {
		k := headline.Lookup{ID: id}
		thunks[i] = l.thunk(ctx, k)
	}
	users = make([]*headline.User, len(ids))
	errs = make([]error, len(ids))
	for i, th := range thunks {
		users[i], errs[i] = th()
		if errs[i] != nil {
			l.forget(ctx, headline.Lookup{ID: ids[i]})
		}
	}
	return users, errs
}

// Prime replaces what the request knows of u's profile with u, so later
// fields of the request (after a mutation) see the new values.
func (l *Loaders) Prime(ctx context.Context, u *headline.User) {
	k := headline.Lookup{ID: u.ID}
	l.mu.Lock()
	delete(l.planned, k)
	l.mu.Unlock()
	l.users.Clear(ctx, k).Prime(ctx, k, u)
}

type ctxKey struct{}

// NewContext returns a context that carries l.
func NewContext(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// For returns the loaders of the request ctx belongs to. It panics when
// Middleware did not run: that is a wiring bug, which the GraphQL recover
// function turns into INTERNAL_SERVER_ERROR.
func For(ctx context.Context) *Loaders {
	l, ok := ctx.Value(ctxKey{}).(*Loaders)
	if !ok {
		panic("dataloaders: no loaders in context; is dataloaders.Middleware installed?")
	}
	return l
}

// Middleware gives each request fresh loaders over profiles.
func Middleware(profiles ProfileGetter, opts Options) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), New(profiles, opts))))
		})
	}
}
