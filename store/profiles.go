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
// A lookup runs in steps, each in a file of its name: lookup.go reads the
// cache and joins or starts the loads of what missed; a load (load.go)
// acquires the leases, awaits other instances' fills, selects the rest,
// writes back and completes its flights. Update (update.go) writes MySQL and
// invalidates.
type Profiles struct {
	db    bun.IDB
	cache *rediscache.Cache
	log   *slog.Logger
	opts  ProfilesOptions

	mu       sync.Mutex
	flights  map[headline.UserID]*flight
	written  map[headline.UserID]time.Time // this process's updates, for the fresh window
	pending  map[headline.UserID]bool      // invalidations to retry
	retrying bool                          // a retry goroutine runs
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
	// LeaseTTL is how long a lease on a missed key lives: longer than a load
	// takes, short enough that a reader that died holding one blocks fills
	// only briefly. Default: 2s.
	LeaseTTL time.Duration
	// LeaseWait bounds how long a batch waits for another instance's fill
	// before it loads from MySQL itself. Default: 50ms.
	LeaseWait time.Duration
	// LeasePoll is how often the cache is read again while waiting.
	// Default: 2ms.
	LeasePoll time.Duration
	// InvalidationRetry is how often invalidations that failed (Redis
	// down during an update) are tried again. Default: 1s.
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
	// must exceed the replicas' usual lag. Default: 30s.
	FreshWindow time.Duration
}

func (o ProfilesOptions) withDefaults() ProfilesOptions {
	if o.LoadTimeout <= 0 {
		o.LoadTimeout = 5 * time.Second
	}
	if o.Linger <= 0 {
		o.Linger = 2 * time.Second
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 2 * time.Second
	}
	if o.LeaseWait <= 0 {
		o.LeaseWait = 50 * time.Millisecond
	}
	if o.LeasePoll <= 0 {
		o.LeasePoll = 2 * time.Millisecond
	}
	if o.InvalidationRetry <= 0 {
		o.InvalidationRetry = time.Second
	}
	if o.Observer == nil {
		o.Observer = NopObserver{}
	}
	if o.FreshWindow <= 0 {
		o.FreshWindow = 30 * time.Second
	}
	return o
}

// NewProfiles returns a profile service on db and cache, logging to log.
func NewProfiles(db bun.IDB, cache *rediscache.Cache, log *slog.Logger, opts ProfilesOptions) *Profiles {
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
	keys := make([]headline.Lookup, len(ids))
	for i, id := range ids {
		keys[i] = headline.Lookup{ID: id}
	}
	return p.Lookup(ctx, keys)
}
