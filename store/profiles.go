package store

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/headline/headline"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/sqldb"
)

// Profiles serves user profiles cache-aside, as the Toutiao backend does, but
// a batch at a time: one MGET for all ids, one SELECT for the misses, one
// pipeline to write them back. A Redis failure is a miss, never an error.
//
// Concurrent batches that miss on the same id share one SELECT for it: the
// first batch to miss owns the load, the others wait for its result. That
// bounds the database load of a herd of requests for a cold id to one query
// per process.
//
// A lookup runs in steps, each in a file of its name: lookup.go builds the
// batch, reads the cache (local.go: the local tier, then Redis) and joins
// (flight.go) or starts the loads of what missed; a load (load.go)
// acquires the leases, awaits other instances' fills, selects the rest,
// writes back and completes its flights. Update (update.go) writes MySQL and
// invalidates.
type Profiles struct {
	db    bun.IDB
	cache *rediscache.Cache
	log   *slog.Logger
	opts  ProfilesOptions

	// closing ends when Close is called; stop ends it. background counts
	// the goroutines Close waits for.
	closing    context.Context
	stop       context.CancelFunc
	background sync.WaitGroup

	mu       sync.Mutex
	flights  map[headline.UserID]*flight
	written  map[headline.UserID]time.Time // this process's updates, for the fresh window
	pending  map[headline.UserID]bool      // invalidations to retry
	retrying bool                          // a retry goroutine runs
	closed   bool                          // Close was called: no goroutine is started

	// mgetOnLocalMiss reads the local tier's misses with a plain MGET and
	// leases them in a pipeline of their own, as without the tier: the
	// comparison BenchmarkLocalMiss measures the script against.
	mgetOnLocalMiss bool
}

// ProfilesOptions tunes Profiles; zero fields take their values in
// DefaultProfilesOptions.
type ProfilesOptions struct {
	// LoadTimeout bounds one SELECT and its write-back. The load is detached
	// from the request that started it, since other requests wait for it
	// too, so it needs a bound of its own.
	LoadTimeout time.Duration
	// Linger is how long a finished load stays joinable. A request whose
	// MGET began before another request's write-back landed would miss and
	// load again; joining the finished load instead keeps a herd at one
	// SELECT. It must exceed the Redis read timeout.
	Linger time.Duration
	// LeaseTTL is how long a lease on a missed key lives: longer than a load
	// takes, short enough that a reader that died holding one blocks fills
	// only briefly.
	LeaseTTL time.Duration
	// LeaseWait bounds how long a batch waits for another instance's fill
	// before it loads from MySQL itself.
	LeaseWait time.Duration
	// LeasePoll is how often the cache is read again while waiting.
	LeasePoll time.Duration
	// InvalidationRetry is how often invalidations that failed (Redis
	// down during an update) are tried again.
	InvalidationRetry time.Duration
	// Observer is told of batches, cache reads, joined loads, Redis errors
	// and database calls. Default: nothing is observed.
	Observer Observer
	// Replicas, when the database routes reads to MySQL replicas, is told of
	// a replica that failed a read (which is then read again on the
	// primary), and makes loads check whether their ids were updated within
	// FreshWindow. Default: none, every read goes to the one database.
	Replicas *sqldb.Replicas
	// FreshWindow is how long after an update reads of that user go to the
	// primary rather than a replica that may not have applied it yet. It
	// must exceed the replicas' usual lag.
	FreshWindow time.Duration
	// Local is the in-process tier read before Redis, kept coherent by a
	// localcache.Tracker the caller runs on it. While it is usable, what
	// it lacks is read with the read-or-lease script, which takes the
	// leases of absent profiles in the same round trip; Update evicts the
	// updated profile from it. Default: none (nil), every lookup reads
	// Redis with a plain MGET.
	Local *LocalTier
}

// DefaultProfilesOptions are the defaults of Profiles.
var DefaultProfilesOptions = ProfilesOptions{
	LoadTimeout:       5 * time.Second,
	Linger:            2 * time.Second,
	LeaseTTL:          2 * time.Second,
	LeaseWait:         50 * time.Millisecond,
	LeasePoll:         2 * time.Millisecond,
	InvalidationRetry: time.Second,
	Observer:          NopObserver{},
	FreshWindow:       30 * time.Second,
}

func (o ProfilesOptions) withDefaults() ProfilesOptions {
	d := DefaultProfilesOptions
	for _, f := range []struct{ v, def *time.Duration }{
		{&o.LoadTimeout, &d.LoadTimeout}, {&o.Linger, &d.Linger}, {&o.LeaseTTL, &d.LeaseTTL},
		{&o.LeaseWait, &d.LeaseWait}, {&o.LeasePoll, &d.LeasePoll},
		{&o.InvalidationRetry, &d.InvalidationRetry}, {&o.FreshWindow, &d.FreshWindow},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	if o.Observer == nil {
		o.Observer = d.Observer
	}
	return o
}

// NewProfiles returns a profile service on db and cache, logging to log.
// Close stops its background work.
func NewProfiles(db bun.IDB, cache *rediscache.Cache, log *slog.Logger, opts ProfilesOptions) *Profiles {
	closing, stop := context.WithCancel(context.Background())
	return &Profiles{
		db:      db,
		cache:   cache,
		log:     log,
		opts:    opts.withDefaults(),
		closing: closing,
		stop:    stop,
		flights: make(map[headline.UserID]*flight),
	}
}

// Get returns the profiles of ids in their order: users[i] is nil when there
// is no user ids[i], errs[i] is non-nil when it could not be loaded (the
// database failed). Ids must be distinct.
func (p *Profiles) Get(ctx context.Context, ids []headline.UserID) (users []*headline.User, errs []error) {
	keys := make([]Key, len(ids))
	for i, id := range ids {
		keys[i] = Key{ID: id}
	}
	r := p.Lookup(ctx, keys)
	return r.Users, r.Errs
}
