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
	// Observer is told of cache lookups, Redis errors and SQL durations,
	// for metrics. Default: nothing is observed.
	Observer Observer
	// Replicas, when the database routes reads to MySQL replicas, is told of
	// a replica that failed a read (which is then read again on the
	// primary), and makes loads check whether their ids were updated within
	// FreshWindow. Default: none, every read goes to the one database.
	Replicas *Replicas
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
		o.Observer = nopObserver{}
	}
	if o.FreshWindow <= 0 {
		o.FreshWindow = 30 * time.Second
	}
	return o
}

// awaitFills polls the cache for ids whose lease another instance holds,
// until each is filled or LeaseWait runs out, and returns what was filled
// (nil for "-1"). What is not filled by then is loaded by the caller.
func (p *Profiles) awaitFills(ctx context.Context, ids []headline.UserID) map[headline.UserID]*headline.User {
	got := make(map[headline.UserID]*headline.User, len(ids))
	deadline := time.Now().Add(p.opts.LeaseWait)
	for pending := ids; len(pending) > 0 && time.Now().Before(deadline); {
		time.Sleep(p.opts.LeasePoll)
		entries, err := p.cache.get(ctx, pending, nil)
		if err != nil {
			p.redisError("read", err)
			break
		}
		var still []headline.UserID
		for i, e := range entries {
			switch e.kind {
			case entryUser:
				got[pending[i]] = e.user
			case entryMissing:
				got[pending[i]] = nil
			default:
				still = append(still, pending[i])
			}
		}
		pending = still
	}
	return got
}

// Update applies upd to user id's profile in MySQL, then invalidates the
// cached profile so the Toutiao backend and every headline instance read the
// new one. MySQL is the truth: if Redis cannot be reached the update still
// succeeds and the failed invalidation is logged (the old entry then lives
// until its TTL).
func (p *Profiles) Update(ctx context.Context, id headline.UserID, upd headline.ProfileUpdate) (*headline.User, error) {
	start := time.Now()
	u, err := UpdateUser(ctx, p.db, id, upd)
	p.observeSQL("update_user", start)
	if err != nil {
		return nil, err
	}
	// Loads of this process that finished before the update must not be
	// joined after it.
	p.mu.Lock()
	delete(p.flights, id)
	p.noteWritten(id)
	p.mu.Unlock()
	if err := p.cache.invalidate(context.WithoutCancel(ctx), id, p.opts.FreshWindow); err != nil {
		p.redisError("invalidate", err)
		p.log.ErrorContext(ctx, "profile updated but its cache entry could not be invalidated; retrying until Redis answers",
			"user", id, "err", err)
		p.retryInvalidation(id)
	}
	return u, nil
}

// noteWritten remembers that id was just updated, so that this process reads
// it from the primary for the fresh window even when Redis, which tells the
// other instances, is down. Callers hold p.mu.
func (p *Profiles) noteWritten(id headline.UserID) {
	if p.opts.Replicas == nil {
		return
	}
	now := time.Now()
	if len(p.written) >= 1024 {
		for w, at := range p.written {
			if now.Sub(at) >= p.opts.FreshWindow {
				delete(p.written, w)
			}
		}
	}
	if p.written == nil {
		p.written = make(map[headline.UserID]time.Time)
	}
	p.written[id] = now
}

// writtenLately reports whether this process updated id in the fresh window.
func (p *Profiles) writtenLately(id headline.UserID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.written[id]
	return ok && time.Since(at) < p.opts.FreshWindow
}

// selectUsers reads ids in one SELECT: from the primary when fresh, else
// from a replica if there is one (and from the primary if that replica
// fails).
func (p *Profiles) selectUsers(ctx context.Context, ids []headline.UserID, fresh bool) (map[headline.UserID]*headline.User, error) {
	if fresh {
		ctx = OnPrimary(ctx)
	}
	var users map[headline.UserID]*headline.User
	err := readFromReplica(ctx, p.opts.Replicas, func(ctx context.Context) error {
		var err error
		users, err = GetUsers(ctx, p.db, ids)
		return err
	})
	return users, err
}

// maxPendingInvalidations bounds the ids kept for a retry; past it the
// entries are left to their TTL (and said so in the log).
const maxPendingInvalidations = 100_000

// retryInvalidation keeps id for a later invalidation: while Redis is down,
// an update's old entry would otherwise be served (by headline and the
// Flask app) until its TTL, up to 40 minutes. A goroutine retries every
// second while any are pending and ends when none are. The retry is lost if
// the process stops first.
func (p *Profiles) retryInvalidation(id headline.UserID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) >= maxPendingInvalidations {
		p.log.Error("too many invalidations pending; this one is left to the entry's TTL", "user", id)
		return
	}
	if p.pending == nil {
		p.pending = make(map[headline.UserID]bool)
	}
	p.pending[id] = true
	if p.retrying {
		return
	}
	p.retrying = true
	go func() {
		for {
			time.Sleep(p.opts.InvalidationRetry)
			p.mu.Lock()
			ids := make([]headline.UserID, 0, len(p.pending))
			for id := range p.pending {
				ids = append(ids, id)
			}
			p.mu.Unlock()
			done := 0
			for _, id := range ids {
				if err := p.cache.invalidate(context.Background(), id, p.opts.FreshWindow); err != nil {
					p.redisError("invalidate", err)
					break
				}
				p.mu.Lock()
				delete(p.pending, id)
				p.mu.Unlock()
				done++
			}
			if done > 0 {
				p.log.Info("invalidated cache entries of updates made while Redis was down", "users", done)
			}
			p.mu.Lock()
			if len(p.pending) == 0 {
				p.retrying = false
				p.mu.Unlock()
				return
			}
			p.mu.Unlock()
		}
	}()
}

// flight is one load of one id from the database.
type flight struct {
	done   chan struct{}
	doneAt time.Time
	user   *headline.User // nil: no such user; Status always known
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
	keys := make([]headline.Lookup, len(ids))
	for i, id := range ids {
		keys[i] = headline.Lookup{ID: id}
	}
	return p.Lookup(ctx, keys)
}

// Lookup answers a batch of lookups in their order, as Get does; for a key
// with Status the user's Status is known too. Keys must be distinct; one id
// may come with and without Status. The profile and status entries of the
// whole batch are read in one MGET, and whatever missed in one SELECT.
func (p *Profiles) Lookup(ctx context.Context, keys []headline.Lookup) (users []*headline.User, errs []error) {
	users = make([]*headline.User, len(keys))
	errs = make([]error, len(keys))
	if len(keys) == 0 {
		return users, errs
	}
	start := time.Now()

	var ids, statusIDs []headline.UserID
	pos := make(map[headline.UserID]int, len(keys))
	wantStatus := make(map[headline.UserID]bool)
	for _, k := range keys {
		if _, ok := pos[k.ID]; !ok {
			pos[k.ID] = len(ids)
			ids = append(ids, k.ID)
		}
		if k.Status && !wantStatus[k.ID] {
			wantStatus[k.ID] = true
			statusIDs = append(statusIDs, k.ID)
		}
	}

	entries, err := p.cache.get(ctx, ids, statusIDs)
	cacheOK := err == nil
	if cacheOK {
		p.observeLookups(entries)
	} else {
		p.redisError("read", err)
		level := slog.LevelWarn
		if errors.Is(err, errBreakerOpen) {
			// Said once, when the breaker opened; not again per request.
			level = slog.LevelDebug
		}
		p.log.Log(ctx, level, "cache read failed; loading from the database", "keys", len(ids)+len(statusIDs), "err", err)
		entries = make([]cacheEntry, len(ids))
	}

	// An id needs the database when its profile missed, or when its status
	// was asked for and missed (unless the cache says there is no user).
	var need []int // indexes into ids
	for i, id := range ids {
		e := entries[i]
		if e.kind == entryMiss || (wantStatus[id] && e.status == headline.StatusUnknown && e.kind != entryMissing) {
			need = append(need, i)
		}
	}
	stats := statsFrom(ctx)
	if stats != nil {
		stats.CacheHits.Add(int64(len(ids) - len(need)))
		stats.CacheMisses.Add(int64(len(need)))
	}
	loaded := make(map[headline.UserID]*flight, len(need))
	if len(need) > 0 {
		flights, own := p.join(ids, need, entries, start, cacheOK)
		if stats != nil {
			stats.Joined.Add(int64(len(need) - len(own)))
		}
		if len(own) > 0 {
			p.load(ctx, own, entries, pos, wantStatus, cacheOK)
		}
		for _, i := range need {
			f := flights[i]
			select {
			case <-f.done:
			case <-ctx.Done():
				loaded[ids[i]] = &flight{err: ctx.Err()}
				continue
			}
			loaded[ids[i]] = f
		}
	}

	for i, k := range keys {
		e := entries[pos[k.ID]]
		if f, ok := loaded[k.ID]; ok {
			if f.err != nil {
				errs[i] = f.err
				continue
			}
			if f.user != nil {
				// The flight's user is shared: copy it to set the status
				// this key asked for. A cached status is believed over the
				// row's, as a cached profile is, so that answers do not
				// flip between the two until the entry expires; a load for
				// the status alone keeps the cached profile (the row may
				// come from a replica that is behind the cache).
				u := *f.user
				if e.kind == entryUser {
					u = *e.user
					u.Status = f.user.Status
				}
				switch {
				case !k.Status:
					u.Status = headline.StatusUnknown
				case e.status != headline.StatusUnknown:
					u.Status = e.status
				}
				users[i] = &u
			}
			continue
		}
		if e.kind != entryUser {
			continue // entryMissing: no such user
		}
		users[i] = e.user
		if k.Status {
			u := *e.user
			u.Status = e.status
			users[i] = &u
		}
	}
	return users, errs
}

// join registers the ids of a batch that need the database: for each it
// returns the flight that loads it, either one already under way (or
// finished since start) or a new one the caller owns and must complete
// with load. When the cache could not be read, or an id's node is down, any
// load that finished in the last Linger is taken too: with Redis (or one
// cluster node) down, MySQL then sees at most one SELECT per id per Linger
// from each process, instead of one per request.
func (p *Profiles) join(ids []headline.UserID, need []int, entries []cacheEntry, start time.Time, cacheOK bool) (flights map[int]*flight, own map[headline.UserID]*flight) {
	flights = make(map[int]*flight, len(need))
	own = make(map[headline.UserID]*flight)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, i := range need {
		id := ids[i]
		f, ok := p.flights[id]
		if !ok || (cacheOK && !entries[i].down && f.isDone() && f.doneAt.Before(start)) {
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

// load loads the owned ids: it takes the leases of the profiles that missed,
// waits briefly for ids whose lease another instance holds, reads the rest in
// one SELECT, writes back under its leases (unless the cache just failed: a
// second timeout would only add latency), and completes the flights.
func (p *Profiles) load(ctx context.Context, own map[headline.UserID]*flight, entries []cacheEntry,
	pos map[headline.UserID]int, wantStatus map[headline.UserID]bool, cacheOK bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.LoadTimeout)
	defer cancel()

	// An id whose node is down is loaded, not leased: its lease and fill
	// would only fail or be kept back by the node's breaker.
	var ids, missed []headline.UserID
	for id := range own {
		ids = append(ids, id)
		if e := entries[pos[id]]; e.kind == entryMiss && !e.down {
			missed = append(missed, id)
		}
	}
	var l lease
	if cacheOK && len(missed) > 0 {
		var err error
		if l, err = p.cache.acquire(ctx, missed, p.opts.LeaseTTL, p.opts.Replicas != nil); err != nil {
			p.redisError("lease", err)
			p.log.WarnContext(ctx, "cache lease failed; loading without write-back", "ids", len(missed), "err", err)
			cacheOK = false
		}
	}
	// Ids another instance is loading: wait for its write, then take what
	// it wrote. A status lookup needs the row anyway and does not wait.
	found := make(map[headline.UserID]*headline.User, len(ids))
	filled := map[headline.UserID]bool{}
	var waitFor []headline.UserID
	for _, id := range l.held {
		if !wantStatus[id] {
			waitFor = append(waitFor, id)
		}
	}
	if len(waitFor) > 0 {
		for id, u := range p.awaitFills(ctx, waitFor) {
			found[id], filled[id] = u, true
		}
	}
	var selectIDs []headline.UserID
	fresh := false // one id updated lately sends the whole SELECT to the primary
	for _, id := range ids {
		if !filled[id] {
			selectIDs = append(selectIDs, id)
			fresh = fresh || l.written[id] || p.writtenLately(id)
		}
	}
	selectStart := time.Now()
	rows, err := p.selectUsers(ctx, selectIDs, fresh)
	if len(selectIDs) > 0 {
		p.observeSQL("select_users", selectStart)
	}
	stats := statsFrom(ctx)
	if stats != nil {
		stats.SQLRows.Add(int64(len(rows)))
	}
	for id, u := range rows {
		found[id] = u
	}
	if err == nil && cacheOK {
		var w writeBack
		for _, id := range selectIDs {
			e := entries[pos[id]]
			u, ok := found[id]
			switch {
			case e.kind == entryMiss && ok:
				w.users = append(w.users, u)
			case e.kind == entryMiss:
				w.missing = append(w.missing, id)
			}
			if ok && wantStatus[id] && e.status == headline.StatusUnknown {
				w.statuses = append(w.statuses, u)
			}
		}
		voided, werr := p.cache.fill(ctx, w, l.tokens)
		if len(voided) > 0 {
			// An update invalidated these while this batch loaded them, so
			// the rows it read may predate it: read them again, so that
			// neither this request nor those that joined its load after
			// the update returned answer the old profile. Not filled: the
			// next reader does, under a lease of its own.
			againStart := time.Now()
			again, rerr := p.selectUsers(ctx, voided, true)
			p.observeSQL("select_users", againStart)
			if stats != nil {
				stats.SQLRows.Add(int64(len(again)))
			}
			if rerr == nil {
				for _, id := range voided {
					found[id] = again[id]
				}
			}
		}
		if werr != nil {
			p.redisError("fill", werr)
			p.log.WarnContext(ctx, "cache write-back failed", "ids", len(selectIDs), "err", werr)
		}
	} else if err != nil {
		if rerr := p.cache.release(ctx, l.tokens); rerr != nil {
			p.redisError("lease", rerr)
			p.log.WarnContext(ctx, "cache lease release failed", "ids", len(l.tokens), "err", rerr)
		}
	}
	p.mu.Lock()
	now := time.Now()
	for id, f := range own {
		f.user = found[id]
		if !filled[id] {
			f.err = err
		}
		f.doneAt = now
		close(f.done)
		if f.err != nil {
			// A failed load is not shared with later requests: the next one
			// tries the database again.
			delete(p.flights, id)
		}
	}
	p.mu.Unlock()

	{
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
