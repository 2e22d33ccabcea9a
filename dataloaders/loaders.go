// Package dataloaders batches the lookups of one request. Every loader is
// built fresh for each HTTP request by Middleware and found with For: a
// loader shared across requests would batch one client's lookups under
// another's context and keep its errors.
package dataloaders

import (
	"context"
	"net/http"
	"time"

	"github.com/graph-gophers/dataloader/v7"

	"github.com/headline/headline"
)

// ProfileGetter is what the user loader batches onto: one call a batch, one
// result a key, in key order (store.Profiles).
type ProfileGetter interface {
	Get(ctx context.Context, ids []headline.UserID) ([]*headline.User, []error)
}

// Options tunes the loaders; zero fields take their defaults.
type Options struct {
	// Wait is how long a batch collects keys after its first Load. The
	// library's default, 16ms, would be paid by every request; gqlgen starts
	// the root fields of one query within microseconds of each other, so a
	// far shorter window still batches them (see README). Default: 200µs.
	Wait time.Duration
	// MaxBatch caps the keys of one batch; more start another. Default: 1000.
	MaxBatch int
}

func (o Options) withDefaults() Options {
	if o.Wait <= 0 {
		o.Wait = 200 * time.Microsecond
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1000
	}
	return o
}

// Loaders are the loaders of one request.
type Loaders struct {
	users *dataloader.Loader[headline.UserID, *headline.User]
}

// New returns fresh loaders over profiles.
func New(profiles ProfileGetter, opts Options) *Loaders {
	opts = opts.withDefaults()
	batch := func(ctx context.Context, ids []headline.UserID) []*dataloader.Result[*headline.User] {
		users, errs := profiles.Get(ctx, ids)
		out := make([]*dataloader.Result[*headline.User], len(ids))
		for i := range ids {
			out[i] = &dataloader.Result[*headline.User]{Data: users[i], Error: errs[i]}
		}
		return out
	}
	return &Loaders{users: dataloader.NewBatchedLoader(batch,
		dataloader.WithWait[headline.UserID, *headline.User](opts.Wait),
		dataloader.WithBatchCapacity[headline.UserID, *headline.User](opts.MaxBatch),
	)}
}

// User returns the profile of id, or nil when there is no such user.
func (l *Loaders) User(ctx context.Context, id headline.UserID) (*headline.User, error) {
	u, err := l.users.Load(ctx, id)()
	if err != nil {
		// The loader keeps a key's result for the rest of the request; a
		// failed load must not stick, so a retry in the same request (another
		// field asking for the same id later) tries again.
		l.users.Clear(ctx, id)
	}
	return u, err
}

// Users returns the profiles of ids in their order, nil where there is no
// such user; errs is nil or has one entry per id.
func (l *Loaders) Users(ctx context.Context, ids []headline.UserID) ([]*headline.User, []error) {
	users, errs := l.users.LoadMany(ctx, ids)()
	for i, err := range errs {
		if err != nil {
			l.users.Clear(ctx, ids[i])
		}
	}
	return users, errs
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
