package localcache

import (
	"errors"
	"math"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/maypok86/otter/v2/stats"
)

const (
	// DefaultMaxBytes is LOCAL_CACHE_SIZE's default: 64 MiB.
	DefaultMaxBytes = 64 << 20
	// DefaultMaxAge bounds how long an entry is served without Redis being
	// asked again. Invalidations evict entries within a millisecond; the
	// age is the backstop for one that never came (a tracking connection
	// that died silently, between its death and the next ping) and for
	// Redis's lazy expiry (a key whose TTL passed is deleted, and its
	// invalidation sent, only when Redis samples or reads it).
	DefaultMaxAge = time.Minute
	// EntryOverhead is what an entry costs beyond its value's own bytes
	// (Options.Weigh): otter's node with its expiry and policy links, the
	// entry's hash-table slot, the key. Measured by TestMemoryPerEntry,
	// rounded up.
	EntryOverhead = 160
)

// Options configures a Tier. The zero value is a tier that is off.
type Options[V any] struct {
	// MaxBytes bounds the memory the entries hold, as Weigh and
	// EntryOverhead count it. 0: the tier is off (New returns nil, whose
	// methods all miss). Default in the server: DefaultMaxBytes.
	MaxBytes int64
	// MaxAge is how long after its fill an entry is dropped, invalidated
	// or not. 0: DefaultMaxAge.
	MaxAge time.Duration
	// Weigh returns the bytes a value holds beyond EntryOverhead: its
	// strings and what its pointers reach. nil: values count as nothing
	// but the overhead.
	Weigh func(Key, V) int
}

// Tier is the in-process tier: decoded values of Redis keys under Prefix,
// served without a round trip while Redis's invalidations say they are
// current. A Tracker keeps it coherent; until one reports tracking on every
// master, and whenever one loses it, the tier is not usable: Get misses
// without looking and Begin refuses fills.
//
// A nil *Tier is a tier that is off: every method is a no-op or a miss.
type Tier[V any] struct {
	cache *otter.Cache[Key, entry[V]]
	clock *otter.CoarseClock
	// state is epoch<<1 | usable. The epoch moves on every flush; an entry
	// carries the state it was filled under and is served only while the
	// state is the same, so a flush is one atomic add whatever the size,
	// and a fill racing a flush can only store an entry nobody will read.
	state  atomic.Uint64
	flight [1 << shardBits]shard

	hitMiss *stats.Counter // striped: parallel Gets share no cache line
	bypasses, fills, refused, invalidations,
	evictions, expirations, flushes atomic.Uint64

	// noVersionCheck turns the per-key guard off, for the test that shows
	// the race it prevents (TestReplyAfterInvalidation).
	noVersionCheck bool
}

const usable = 1

type entry[V any] struct {
	v     V
	state uint64
}

// New returns a tier, not usable until a Tracker says so, or nil when
// opt.MaxBytes is 0.
func New[V any](opt Options[V]) (*Tier[V], error) {
	if opt.MaxBytes < 0 || opt.MaxAge < 0 {
		return nil, errors.New("localcache: MaxBytes and MaxAge must not be negative")
	}
	if opt.MaxBytes == 0 {
		return nil, nil
	}
	if opt.MaxAge == 0 {
		opt.MaxAge = DefaultMaxAge
	}
	// Expiry reads the clock on every Get; a clock read once per 1/64 of
	// the age (at most a second) saved about a tenth of a hit's time.
	t := &Tier[V]{hitMiss: stats.NewCounter(), clock: otter.NewCoarseClock(min(max(opt.MaxAge/64, time.Millisecond), time.Second))}
	for i := range t.flight {
		t.flight[i].m = map[Key]pending{}
	}
	weigh := opt.Weigh
	c, err := otter.New(&otter.Options[Key, entry[V]]{
		MaximumWeight: uint64(opt.MaxBytes),
		Weigher: func(k Key, e entry[V]) uint32 {
			n := EntryOverhead
			if weigh != nil {
				n += weigh(k, e.v)
			}
			return uint32(min(n, math.MaxUint32))
		},
		ExpiryCalculator: otter.ExpiryWriting[Key, entry[V]](opt.MaxAge),
		Clock:            t.clock,
		// Atomic: the plain OnDeletion runs on a goroutine per event.
		OnAtomicDeletion: func(e otter.DeletionEvent[Key, entry[V]]) {
			switch e.Cause {
			case otter.CauseOverflow:
				t.evictions.Add(1)
			case otter.CauseExpiration:
				t.expirations.Add(1)
			}
		},
	})
	if err != nil {
		t.clock.Stop()
		return nil, err
	}
	t.cache = c
	return t, nil
}

// Close stops the goroutines of the cache's clean-up and of its clock. The
// tier must not be used after it.
func (t *Tier[V]) Close() {
	if t != nil {
		t.cache.StopAllGoroutines()
		t.clock.Stop()
	}
}

// Get returns the value of k if the tier holds a current one.
func (t *Tier[V]) Get(k Key) (v V, ok bool) {
	if t == nil {
		return v, false
	}
	s := t.state.Load()
	if s&usable == 0 {
		t.bypasses.Add(1)
		return v, false
	}
	e, found := t.cache.GetIfPresent(k)
	if !found || e.state != s {
		t.hitMiss.RecordMisses(1)
		return v, false
	}
	t.hitMiss.RecordHits(1)
	return e.v, true
}

// Bytes is the weight the tier holds now, as Stats counts it; 0 for a tier
// that is off.
func (t *Tier[V]) Bytes() int64 {
	if t == nil {
		return 0
	}
	return int64(t.cache.WeightedSize())
}

// Usable reports whether Redis tracks every master for the tier now.
func (t *Tier[V]) Usable() bool {
	return t != nil && t.state.Load()&usable != 0
}

// Invalidate evicts keys at once, and makes any fill of them begun before
// the call fail. The instance that changes a key calls it after its write
// or delete in Redis has completed, so that it reads its own write at once
// instead of when Redis's invalidation comes back (about a millisecond
// later); a read that begins after the call reads Redis after that write.
func (t *Tier[V]) Invalidate(keys ...Key) {
	if t == nil {
		return
	}
	// Counted first, so that whoever sees the eviction sees it counted.
	t.invalidations.Add(uint64(len(keys)))
	for _, k := range keys {
		sh := &t.flight[k.shard()]
		sh.mu.Lock()
		if p, ok := sh.m[k]; ok {
			p.ver++
			sh.m[k] = p
		}
		t.cache.Invalidate(k)
		sh.mu.Unlock()
	}
}

// invalidateRedisKeys applies an invalidation message: keys as Redis names
// them; keys the tier never holds are skipped.
func (t *Tier[V]) invalidateRedisKeys(keys []string) {
	for _, s := range keys {
		if k, ok := ParseKey(s); ok {
			t.Invalidate(k)
		}
	}
}

// flush drops every entry (FLUSHDB or FLUSHALL on a master), usable or not
// as before.
func (t *Tier[V]) flush() { t.advance(func(old uint64) bool { return old&usable != 0 }) }

// suspend drops every entry and stops serving: a master's invalidations
// may be lost from now on.
func (t *Tier[V]) suspend() { t.advance(func(uint64) bool { return false }) }

// resume drops every entry and serves again: every master tracks anew, and
// what was held before may have changed unseen in between.
func (t *Tier[V]) resume() { t.advance(func(uint64) bool { return true }) }

func (t *Tier[V]) advance(usableNext func(old uint64) bool) {
	t.flushes.Add(1)
	for {
		old := t.state.Load()
		next := (old>>1 + 1) << 1
		if usableNext(old) {
			next |= usable
		}
		if t.state.CompareAndSwap(old, next) {
			break
		}
	}
	// Entries of older epochs are dead already; this frees their memory.
	t.cache.InvalidateAll()
}
