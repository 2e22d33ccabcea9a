package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/headline/headline"
)

// Profiles serves user profiles cache-aside, as the Toutiao backend does, but
// a batch at a time: one MGET for all ids, one SELECT for the misses, one
// pipeline to write them back. A Redis failure is a miss, never an error.
//
// Concurrent batches that miss on the same id share one SELECT for it: the
// first batch to miss owns the load, the others wait for its result. That
// bounds the database load of a herd of requests for a cold id to one query
// per process.
type Profiles struct {
	db    bun.IDB
	cache *Cache
	log   *slog.Logger
	opts  ProfilesOptions

	mu      sync.Mutex
	flights map[headline.UserID]*flight
}

// ProfilesOptions tunes Profiles; zero fields take their defaults.
type ProfilesOptions struct {
	// LoadTimeout bounds one SELECT and its write-back. The load is detached
	// from the request that started it, since other requests wait for it
	// too, so it needs a bound of its own. Default: 5s.
	LoadTimeout time.Duration
	// Linger is how long a finished load stays joinable. A request whose
	// MGET began before another request's write-back landed would miss and
	// load again; joining the finished load instead keeps a herd at one
	// SELECT. It must exceed the Redis read timeout. Default: 2s.
	Linger time.Duration
}

func (o ProfilesOptions) withDefaults() ProfilesOptions {
	if o.LoadTimeout <= 0 {
		o.LoadTimeout = 5 * time.Second
	}
	if o.Linger <= 0 {
		o.Linger = 2 * time.Second
	}
	return o
}

// flight is one load of one id from the database.
type flight struct {
	done   chan struct{}
	doneAt time.Time
	user   *headline.User // nil: no such user
	err    error
}

// NewProfiles returns a profile service on db and cache, logging to log.
func NewProfiles(db bun.IDB, cache *Cache, log *slog.Logger, opts ProfilesOptions) *Profiles {
	return &Profiles{
		db:      db,
		cache:   cache,
		log:     log,
		opts:    opts.withDefaults(),
		flights: make(map[headline.UserID]*flight),
	}
}

// Get returns the profiles of ids in their order: users[i] is nil when there
// is no user ids[i], errs[i] is non-nil when it could not be loaded (the
// database failed). Ids must be distinct.
func (p *Profiles) Get(ctx context.Context, ids []headline.UserID) (users []*headline.User, errs []error) {
	users = make([]*headline.User, len(ids))
	errs = make([]error, len(ids))
	start := time.Now()

	cacheOK := true
	entries, err := p.cache.get(ctx, ids)
	if err != nil {
		level := slog.LevelWarn
		if errors.Is(err, errBreakerOpen) {
			// Said once, when the breaker opened; not again per request.
			level = slog.LevelDebug
		}
		p.log.Log(ctx, level, "cache read failed; loading from the database", "ids", len(ids), "err", err)
		cacheOK = false
	}
	var misses []int // indexes into ids
	for i := range ids {
		if !cacheOK {
			misses = append(misses, i)
			continue
		}
		switch e := entries[i]; e.kind {
		case entryUser:
			users[i] = e.user
		case entryMissing:
		default:
			misses = append(misses, i)
		}
	}
	if len(misses) == 0 {
		return users, errs
	}

	flights, own := p.join(ids, misses, start)
	if len(own) > 0 {
		p.load(ctx, own, cacheOK)
	}
	for _, i := range misses {
		f := flights[i]
		select {
		case <-f.done:
			users[i], errs[i] = f.user, f.err
		case <-ctx.Done():
			errs[i] = ctx.Err()
		}
	}
	return users, errs
}

// join registers the misses of a batch: for each id it returns the flight that
// loads it, either one already under way (or finished since start) or a new
// one the caller owns and must complete with load.
func (p *Profiles) join(ids []headline.UserID, misses []int, start time.Time) (flights map[int]*flight, own map[headline.UserID]*flight) {
	flights = make(map[int]*flight, len(misses))
	own = make(map[headline.UserID]*flight)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, i := range misses {
		id := ids[i]
		f, ok := p.flights[id]
		if !ok || (f.isDone() && f.doneAt.Before(start)) {
			f = &flight{done: make(chan struct{})}
			p.flights[id] = f
			own[id] = f
		}
		flights[i] = f
	}
	return flights, own
}

// isDone reports whether f has finished; callers hold p.mu, which guards doneAt.
func (f *flight) isDone() bool { return !f.doneAt.IsZero() }

// load runs one SELECT for the owned ids, writes the result back to the cache
// (unless the cache just failed: a second timeout would only add latency), and
// completes the flights.
func (p *Profiles) load(ctx context.Context, own map[headline.UserID]*flight, writeBack bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.LoadTimeout)
	defer cancel()

	ids := make([]headline.UserID, 0, len(own))
	for id := range own {
		ids = append(ids, id)
	}
	found, err := GetUsers(ctx, p.db, ids)
	if err == nil && writeBack {
		var users []*headline.User
		var missing []headline.UserID
		for _, id := range ids {
			if u, ok := found[id]; ok {
				users = append(users, u)
			} else {
				missing = append(missing, id)
			}
		}
		if werr := p.cache.put(ctx, users, missing); werr != nil {
			p.log.WarnContext(ctx, "cache write-back failed", "ids", len(ids), "err", werr)
		}
	}

	p.mu.Lock()
	now := time.Now()
	for id, f := range own {
		f.user, f.err = found[id], err
		f.doneAt = now
		close(f.done)
		if err != nil {
			// A failed load is not shared with later requests: the next one
			// tries the database again.
			delete(p.flights, id)
		}
	}
	p.mu.Unlock()

	if err == nil {
		time.AfterFunc(p.opts.Linger, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			for id, f := range own {
				if p.flights[id] == f {
					delete(p.flights, id)
				}
			}
		})
	}
}
