package localcache

import "sync"

// shardBits sets the number of in-flight shards (64): fills of different
// keys seldom wait for each other, and the table stays small.
const shardBits = 6

// shard holds the keys of one shard that reads are in flight for.
type shard struct {
	mu sync.Mutex
	m  map[Key]pending
	_  [64 - 16]byte // a cache line of its own
}

// pending is an in-flight key: how many tickets hold it, and how many
// invalidations it has seen since the first of them began.
type pending struct {
	refs int32
	ver  uint32
}

// Ticket guards the fills of one read from Redis. The reply of a read and
// the invalidation of one of its keys travel on different connections, so
// the invalidation of a write made after the read may arrive before the
// reply: a fill is stored only if no invalidation of its key and no flush
// came since Begin, and only if the tier was usable at Begin.
type Ticket[V any] struct {
	t     *Tier[V]
	state uint64
	keys  []Key
	vers  []uint32
	done  bool
}

// Begin must be called before the read of keys is sent to Redis; the
// ticket's Done after the last Fill. keys must not change until Done. It
// returns nil when the tier is not usable (or off): its Fill then stores
// nothing.
func (t *Tier[V]) Begin(keys []Key) *Ticket[V] {
	if t == nil {
		return nil
	}
	// The state first: a flush between this load and the registration
	// below then fails the fills, which is the safe side.
	s := t.state.Load()
	if s&usable == 0 {
		return nil
	}
	tk := &Ticket[V]{t: t, state: s, keys: keys, vers: make([]uint32, len(keys))}
	for i, k := range keys {
		sh := &t.flight[k.shard()]
		sh.mu.Lock()
		p := sh.m[k]
		p.refs++
		sh.m[k] = p
		tk.vers[i] = p.ver
		sh.mu.Unlock()
	}
	return tk
}

// Fill stores v as the value of keys[i] as the read returned it, and says
// whether it did. It does not when the key was invalidated, or the tier
// flushed or suspended, since Begin: the reply may predate a write whose
// invalidation has already been applied, and storing it would keep a stale
// value with no invalidation left to evict it.
func (tk *Ticket[V]) Fill(i int, v V) bool {
	if tk == nil || tk.done {
		return false
	}
	t, k := tk.t, tk.keys[i]
	sh := &t.flight[k.shard()]
	sh.mu.Lock()
	// Checked and stored under the shard's lock, which Invalidate takes to
	// bump the version and evict: an invalidation either comes before the
	// check and fails it, or after the store and evicts it.
	ok := t.state.Load() == tk.state && (sh.m[k].ver == tk.vers[i] || t.noVersionCheck)
	if ok {
		t.cache.Set(k, entry[V]{v: v, state: tk.state})
	}
	sh.mu.Unlock()
	if ok {
		t.fills.Add(1)
	} else {
		t.refused.Add(1)
	}
	return ok
}

// Done releases the ticket's keys. Fill stores nothing after it.
func (tk *Ticket[V]) Done() {
	if tk == nil || tk.done {
		return
	}
	tk.done = true
	for _, k := range tk.keys {
		sh := &tk.t.flight[k.shard()]
		sh.mu.Lock()
		p := sh.m[k]
		if p.refs--; p.refs <= 0 {
			delete(sh.m, k)
		} else {
			sh.m[k] = p
		}
		sh.mu.Unlock()
	}
}
