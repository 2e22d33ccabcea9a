// Package dataloaders batches the lookups of one request. Loaders are built
// fresh for each HTTP request by Middleware and found with For: a loader
// shared across requests would batch one client's lookups under another's
// context and keep its errors.
package dataloaders

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
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

// Options tunes the loaders; zero fields take their values in
// DefaultOptions.
type Options struct {
	// Wait is how long a batch of lookups that were not planned (see Plan)
	// collects keys after its first Load. The library's default, 16ms,
	// would be paid by every such request; planned lookups do not wait at
	// all.
	Wait time.Duration
	// MaxBatch caps the keys of one unplanned batch; more start another.
	MaxBatch int
}

// DefaultOptions are the loaders' defaults. A Wait of 500µs collected 20
// concurrently resolved fields into one batch 199 times in 200 (see
// README).
var DefaultOptions = Options{Wait: 500 * time.Microsecond, MaxBatch: 1000}

func (o Options) withDefaults() Options {
	if o.Wait <= 0 {
		o.Wait = DefaultOptions.Wait
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultOptions.MaxBatch
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
// reads every lookup the operation will make and hands them to Plan, which
// loads them in one batch there and then, and its resolvers read the
// results Plan returned. Lookups nobody planned go through a loader with
// the timed window, made on first use.
type Loaders struct {
	profiles ProfileGetter
	opts     Options

	mu sync.Mutex
	// planned holds Plan's batches until a later lookup asks for a key;
	// known then indexes what they loaded without error. A query whose
	// lookups were all planned never builds it.
	planned []batch
	known   map[headline.Lookup]*headline.User
	users   *userLoader // unplanned lookups; nil until the first
}

// batch is the keys of one planned batch and their results.
type batch struct {
	keys  []headline.Lookup
	users []*headline.User
	errs  []error
}

// New returns fresh loaders over profiles.
func New(profiles ProfileGetter, opts Options) *Loaders {
	return &Loaders{profiles: profiles, opts: opts.withDefaults()}
}

// lookup is one batch: one call of the profile getter, one result a key.
// A panic in the getter or a result of the wrong length fails every key
// with an internal error rather than the request.
func (l *Loaders) lookup(ctx context.Context, keys []headline.Lookup) (users []*headline.User, errs []error) {
	defer func() {
		if p := recover(); p != nil {
			users, errs = failAll(len(keys), fmt.Errorf("dataloaders: the profile lookup panicked: %v\n%s", p, debug.Stack()))
		}
	}()
	users, errs = l.profiles.Lookup(ctx, keys)
	if len(users) != len(keys) || len(errs) != len(keys) {
		return failAll(len(keys), fmt.Errorf("dataloaders: the profile lookup answered %d users and %d errors for %d keys",
			len(users), len(errs), len(keys)))
	}
	return users, errs
}

func failAll(n int, err error) ([]*headline.User, []error) {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return make([]*headline.User, n), errs
}

// Plan loads keys, the lookups a request is known to make before any of
// its fields is resolved, as one batch, at once, on the calling goroutine,
// and returns their results in key order: users[i] is the profile of
// keys[i], nil when there is no such user, unless errs[i] says why it could
// not be loaded. A key listed twice is looked up once. What loaded is kept
// for the rest of the request (later User, Account and Load calls share
// it, and a later Plan adds to it); failures are not, so a later lookup of
// a failed key tries again.
func (l *Loaders) Plan(ctx context.Context, keys []headline.Lookup) (users []*headline.User, errs []error) {
	if len(keys) == 0 {
		return nil, nil
	}
	distinct, at := dedupe(keys)
	users, errs = l.lookup(ctx, distinct)
	l.mu.Lock()
	l.planned = append(l.planned, batch{keys: distinct, users: users, errs: errs})
	l.mu.Unlock()
	if at == nil {
		return users, errs
	}
	all, allErrs := make([]*headline.User, len(keys)), make([]error, len(keys))
	for i, j := range at {
		all[i], allErrs[i] = users[j], errs[j]
	}
	return all, allErrs
}

// dedupe returns the distinct keys in order of first appearance and, when
// there were duplicates, at: keys[i] is distinct[at[i]]. Without
// duplicates it returns keys itself and a nil at, and allocates nothing
// for a short list.
func dedupe(keys []headline.Lookup) (distinct []headline.Lookup, at []int) {
	const scan = 16 // up to this many keys, comparing each pair beats a map
	if len(keys) <= scan {
		dup := false
		for i := 1; i < len(keys) && !dup; i++ {
			dup = slices.Contains(keys[:i], keys[i])
		}
		if !dup {
			return keys, nil
		}
	}
	index := make(map[headline.Lookup]int, len(keys))
	at = make([]int, len(keys))
	distinct = make([]headline.Lookup, 0, len(keys))
	for i, k := range keys {
		j, seen := index[k]
		if !seen {
			j = len(distinct)
			index[k] = j
			distinct = append(distinct, k)
		}
		at[i] = j
	}
	if len(distinct) == len(keys) {
		return keys, nil
	}
	return distinct, at
}

// lookupKnown returns what Plan loaded for k.
func (l *Loaders) lookupKnown(k headline.Lookup) (*headline.User, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.index()
	u, ok := l.known[k]
	return u, ok
}

// index adds what the planned batches loaded without error to known; l.mu
// is held.
func (l *Loaders) index() {
	for _, b := range l.planned {
		if l.known == nil {
			l.known = make(map[headline.Lookup]*headline.User, len(b.keys))
		}
		for i, k := range b.keys {
			if b.errs[i] == nil {
				l.known[k] = b.users[i]
			}
		}
	}
	l.planned = nil
}

// timed returns the loader of unplanned lookups, made on first use: a
// request whose lookups were all planned never pays for it.
func (l *Loaders) timed() *userLoader {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.users == nil {
		fn := func(ctx context.Context, keys []headline.Lookup) []*dataloader.Result[*headline.User] {
			users, errs := l.lookup(ctx, keys)
			out := make([]*dataloader.Result[*headline.User], len(keys))
			for i := range keys {
				out[i] = &dataloader.Result[*headline.User]{Data: users[i], Error: errs[i]}
			}
			return out
		}
		l.users = dataloader.NewBatchedLoader(fn,
			dataloader.WithWait[headline.Lookup, *headline.User](l.opts.Wait),
			dataloader.WithBatchCapacity[headline.Lookup, *headline.User](l.opts.MaxBatch),
		)
	}
	return l.users
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
	if u, ok := l.lookupKnown(k); ok {
		return u, nil
	}
	timed := l.timed()
	u, err := timed.Load(ctx, k)()
	if err != nil {
		// The loader keeps a key's result for the rest of the request; a
		// failure must not stick, so a later lookup tries again.
		timed.Clear(ctx, k)
	}
	return u, err
}

// Load returns the profiles of keys in their order, nil where there is no
// such user, and errs with one entry per key (nil where it loaded): what
// Plan loaded, and the rest through the timed loader.
func (l *Loaders) Load(ctx context.Context, keys []headline.Lookup) (users []*headline.User, errs []error) {
	users = make([]*headline.User, len(keys))
	errs = make([]error, len(keys))
	// Load each missing key from this goroutine before waiting on any: the
	// library's LoadMany starts a goroutine per key, which spreads one list
	// over several batches.
	thunks := make([]dataloader.Thunk[*headline.User], len(keys))
	for i, k := range keys {
		if u, ok := l.lookupKnown(k); ok {
			users[i] = u
			continue
		}
		thunks[i] = l.timed().Load(ctx, k)
	}
	for i, th := range thunks {
		if th == nil {
			continue
		}
		if users[i], errs[i] = th(); errs[i] != nil {
			l.timed().Clear(ctx, keys[i])
		}
	}
	return users, errs
}

// Prime replaces what the request knows of u's profile with u, so later
// fields of the request (after a mutation) see the new values.
func (l *Loaders) Prime(ctx context.Context, u *headline.User) {
	k := headline.Lookup{ID: u.ID}
	l.mu.Lock()
	l.index()
	delete(l.known, k)
	l.mu.Unlock()
	l.timed().Clear(ctx, k).Prime(ctx, k, u)
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
