// Package dataloaders batches the lookups of one request. Loaders are built
// fresh for each HTTP request by Middleware and found with For: a loader
// shared across requests would batch one client's lookups under another's
// context and keep its errors.
//
// It imports the domain, and store for the types of a lookup (Key,
// Results); the store itself it reaches only through ProfileGetter, which
// store.Profiles implements.
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
	"github.com/headline/headline/store"
)

// Key and Results are store's lookup key and a batch's answers, named here
// so that the GraphQL layer, which plans lookups, need not import store.
type (
	Key     = store.Key
	Results = store.Results
)

// ProfileGetter is what the user loader batches onto: one call a batch, one
// result a key, in key order (store.Profiles).
type ProfileGetter interface {
	Lookup(ctx context.Context, keys []Key) Results
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
// concurrently resolved fields into one batch 192 times in 200 (1ms: 199;
// docs/architecture.md, "Batching"); planned lookups do not wait at all.
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

type userLoader = dataloader.Loader[Key, answer]

// answer is what the loaders know of one key.
type answer struct {
	user     *headline.User // nil: no such user
	disabled bool           // for a key WithStatus: the account is disabled
}

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
	known   map[Key]answer
	users   *userLoader // unplanned lookups; nil until the first
}

// batch is the keys of one planned batch and their results.
type batch struct {
	keys []Key
	res  Results
}

// New returns fresh loaders over profiles.
func New(profiles ProfileGetter, opts Options) *Loaders {
	return &Loaders{profiles: profiles, opts: opts.withDefaults()}
}

// lookup is one batch: one call of the profile getter, one result a key.
// A panic in the getter or a result of the wrong length fails every key
// with an internal error rather than the request.
func (l *Loaders) lookup(ctx context.Context, keys []Key) (r Results) {
	defer func() {
		if p := recover(); p != nil {
			r = failAll(len(keys), fmt.Errorf("dataloaders: the profile lookup panicked: %v\n%s", p, debug.Stack()))
		}
	}()
	r = l.profiles.Lookup(ctx, keys)
	if len(r.Users) != len(keys) || len(r.Errs) != len(keys) || (r.Disabled != nil && len(r.Disabled) != len(keys)) {
		return failAll(len(keys), fmt.Errorf("dataloaders: the profile lookup answered %d users and %d errors for %d keys",
			len(r.Users), len(r.Errs), len(keys)))
	}
	return r
}

func failAll(n int, err error) Results {
	r := store.MakeResults(n, false)
	for i := range r.Errs {
		r.Errs[i] = err
	}
	return r
}

// Plan loads keys, the lookups a request is known to make before any of
// its fields is resolved, as one batch, at once, on the calling goroutine,
// and returns their results in key order. A key listed twice is looked up
// once. What loaded is kept for the rest of the request (later User,
// Account and Load calls share it, and a later Plan adds to it); failures
// are not, so a later lookup of a failed key tries again.
func (l *Loaders) Plan(ctx context.Context, keys []Key) Results {
	if len(keys) == 0 {
		return Results{}
	}
	distinct, at := dedupe(keys)
	r := l.lookup(ctx, distinct)
	l.mu.Lock()
	l.planned = append(l.planned, batch{keys: distinct, res: r})
	l.mu.Unlock()
	if at == nil {
		return r
	}
	all := store.MakeResults(len(keys), r.Disabled != nil)
	for i, j := range at {
		all.Users[i], all.Errs[i] = r.Users[j], r.Errs[j]
		if r.Disabled != nil {
			all.Disabled[i] = r.Disabled[j]
		}
	}
	return all
}

// dedupe returns the distinct keys in order of first appearance and, when
// there were duplicates, at: keys[i] is distinct[at[i]]. Without
// duplicates it returns keys itself and a nil at, and allocates nothing
// for a short list.
func dedupe(keys []Key) (distinct []Key, at []int) {
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
	index := make(map[Key]int, len(keys))
	at = make([]int, len(keys))
	distinct = make([]Key, 0, len(keys))
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
func (l *Loaders) lookupKnown(k Key) (answer, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.index()
	a, ok := l.known[k]
	return a, ok
}

// index adds what the planned batches loaded without error to known; l.mu
// is held.
func (l *Loaders) index() {
	for _, b := range l.planned {
		if l.known == nil {
			l.known = make(map[Key]answer, len(b.keys))
		}
		for i, k := range b.keys {
			if b.res.Errs[i] == nil {
				l.known[k] = answer{user: b.res.Users[i], disabled: b.res.IsDisabled(i)}
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
		fn := func(ctx context.Context, keys []Key) []*dataloader.Result[answer] {
			r := l.lookup(ctx, keys)
			out := make([]*dataloader.Result[answer], len(keys))
			for i := range keys {
				out[i] = &dataloader.Result[answer]{Data: answer{user: r.Users[i], disabled: r.IsDisabled(i)}, Error: r.Errs[i]}
			}
			return out
		}
		l.users = dataloader.NewBatchedLoader(fn,
			dataloader.WithWait[Key, answer](l.opts.Wait),
			dataloader.WithBatchCapacity[Key, answer](l.opts.MaxBatch),
		)
	}
	return l.users
}

// User returns the profile of id, or nil when there is no such user.
func (l *Loaders) User(ctx context.Context, id headline.UserID) (*headline.User, error) {
	a, err := l.load(ctx, Key{ID: id})
	return a.user, err
}

// Account returns the profile of id and whether the account is disabled,
// as sign-in needs them, or a nil profile when there is no such user.
func (l *Loaders) Account(ctx context.Context, id headline.UserID) (u *headline.User, disabled bool, err error) {
	a, err := l.load(ctx, Key{ID: id, WithStatus: true})
	return a.user, a.disabled, err
}

func (l *Loaders) load(ctx context.Context, k Key) (answer, error) {
	if a, ok := l.lookupKnown(k); ok {
		return a, nil
	}
	timed := l.timed()
	a, err := timed.Load(ctx, k)()
	if err != nil {
		// The loader keeps a key's result for the rest of the request; a
		// failure must not stick, so a later lookup tries again.
		timed.Clear(ctx, k)
	}
	return a, err
}

// Load returns the results of keys in their order: what Plan loaded, and
// the rest through the timed loader.
func (l *Loaders) Load(ctx context.Context, keys []Key) Results {
	r := store.MakeResults(len(keys), slices.ContainsFunc(keys, func(k Key) bool { return k.WithStatus }))
	// Load each missing key from this goroutine before waiting on any: the
	// library's LoadMany starts a goroutine per key, which spreads one list
	// over several batches.
	thunks := make([]dataloader.Thunk[answer], len(keys))
	for i, k := range keys {
		if a, ok := l.lookupKnown(k); ok {
			put(r, i, a)
			continue
		}
		thunks[i] = l.timed().Load(ctx, k)
	}
	for i, th := range thunks {
		if th == nil {
			continue
		}
		a, err := th()
		if err != nil {
			r.Errs[i] = err
			l.timed().Clear(ctx, keys[i])
			continue
		}
		put(r, i, a)
	}
	return r
}

// put sets r's answer for key i to a.
func put(r Results, i int, a answer) {
	r.Users[i] = a.user
	if r.Disabled != nil {
		r.Disabled[i] = a.disabled
	}
}

// Prime replaces what the request knows of u's profile with u, so later
// fields of the request (after a mutation) see the new values.
func (l *Loaders) Prime(ctx context.Context, u *headline.User) {
	k := Key{ID: u.ID}
	l.mu.Lock()
	l.index()
	delete(l.known, k)
	l.mu.Unlock()
	l.timed().Clear(ctx, k).Prime(ctx, k, answer{user: u})
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
