package persisted

import (
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// queryLRU is the persisted queries kept in this process, bounded both by
// count and by the bytes of their text and hash: 1000 entries of up to
// 32 KiB would otherwise be 32 MiB.
type queryLRU struct {
	mu       sync.Mutex
	l        *simplelru.LRU[string, string]
	bytes    int
	maxBytes int
}

func newQueryLRU(entries, maxBytes int) *queryLRU {
	q := &queryLRU{maxBytes: maxBytes}
	l, err := simplelru.NewLRU(entries, func(hash, query string) { q.bytes -= len(hash) + len(query) })
	if err != nil {
		// Only a size ≤ 0 fails, which withDefaults rules out.
		panic("persisted: persisted query LRU: " + err.Error())
	}
	q.l = l
	return q
}

func (q *queryLRU) get(hash string) (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.l.Get(hash)
}

func (q *queryLRU) contains(hash string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.l.Contains(hash)
}

// add keeps query, evicting the least recently used entries until the
// bytes fit; a query larger than the whole budget is not kept.
func (q *queryLRU) add(hash, query string) {
	n := len(hash) + len(query)
	if n > q.maxBytes {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.l.Contains(hash) {
		return // a hash names one query: nothing changes
	}
	q.l.Add(hash, query)
	q.bytes += n
	for q.bytes > q.maxBytes {
		q.l.RemoveOldest()
	}
}

// Limits bound what registrations of persisted queries (a query sent in
// full with its hash, then stored) can make Redis hold; zero fields take
// their values in DefaultOptions.Limits. A query whose hash this process
// already keeps costs nothing: it is not written again.
type Limits struct {
	// Bytes is how much this process may write to Redis in any TTL: the
	// queries, their keys and RegistrationOverhead each. What was written
	// longer than a TTL ago has expired, so Redis holds at most this much
	// of each process's registrations (a restart starts its budget anew).
	Bytes int
	// PerClient is how many queries one client address may register per
	// ClientWindow: a burst of this many, then one every ClientWindow /
	// PerClient. IPv6 addresses count by their /64.
	PerClient int
	// ClientWindow: see PerClient.
	ClientWindow time.Duration
}

// RegistrationOverhead is what a registration is charged beyond its key
// and query: Redis's own bookkeeping of a string key with a TTL (MEMORY
// USAGE says 168 bytes for a 25-byte query under its 77-byte key).
const RegistrationOverhead = 128

// maxClients bounds the client addresses whose budgets are tracked; past
// it the least recently seen is forgotten (and starts afresh), and the
// instance-wide budget still bounds what Redis holds.
const maxClients = 16384

func (o Limits) withDefaults() Limits {
	d := DefaultOptions.Limits
	o.Bytes = positiveOr(o.Bytes, d.Bytes)
	o.PerClient = positiveOr(o.PerClient, d.PerClient)
	o.ClientWindow = positiveOr(o.ClientWindow, d.ClientWindow)
	return o
}

// positiveOr is v, or def when v is not positive (zero: the default).
func positiveOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// budget enforces Limits.
type budget struct {
	limits Limits

	mu      sync.Mutex
	written bytesWithin
	clients *simplelru.LRU[netip.Prefix, *tokens]
}

// tokens is one client's token bucket of registrations.
type tokens struct {
	n    float64
	last time.Time
}

func newBudget(limits Limits, ttl time.Duration) *budget {
	clients, err := simplelru.NewLRU[netip.Prefix, *tokens](maxClients, nil)
	if err != nil {
		panic("persisted: registration budget: " + err.Error())
	}
	return &budget{limits: limits, written: newBytesWithin(ttl), clients: clients}
}

// refusal says which budget refused a registration; "" when none did.
type refusal string

const (
	refusedClient   refusal = "client"
	refusedInstance refusal = "instance"
)

// take charges a registration of cost bytes from client (invalid: unknown,
// no per-client budget) to the budgets, or says which one refused it. A
// refused registration is charged nothing.
func (b *budget) take(client netip.Addr, cost int, now time.Time) refusal {
	b.mu.Lock()
	defer b.mu.Unlock()
	var t *tokens
	if client.IsValid() {
		key := clientPrefix(client)
		var ok bool
		if t, ok = b.clients.Get(key); !ok {
			t = &tokens{n: float64(b.limits.PerClient), last: now}
			b.clients.Add(key, t)
		}
		rate := float64(b.limits.PerClient) / b.limits.ClientWindow.Seconds()
		t.n = min(float64(b.limits.PerClient), t.n+now.Sub(t.last).Seconds()*rate)
		t.last = now
		if t.n < 1 {
			return refusedClient
		}
	}
	if b.written.sum(now)+cost > b.limits.Bytes {
		return refusedInstance
	}
	if t != nil {
		t.n--
	}
	b.written.add(now, cost)
	return ""
}

// clientPrefix is what a client's budget is kept by: its IPv4 address, or
// the /64 of its IPv6 address, which one subscriber usually holds whole.
func clientPrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// bytesWithin sums the bytes written in the last span, in slots of
// span/64: what was written in a slot counts until the slot's end is a span
// ago, so the sum never misses a byte that may still be live.
type bytesWithin struct {
	slot  time.Duration
	start []int64 // the slot number each ring entry counts
	bytes []int
}

const bytesWithinSlots = 64

func newBytesWithin(span time.Duration) bytesWithin {
	return bytesWithin{
		slot:  max(span/bytesWithinSlots, time.Millisecond),
		start: make([]int64, bytesWithinSlots+1),
		bytes: make([]int, bytesWithinSlots+1),
	}
}

func (w *bytesWithin) slotOf(now time.Time) int64 { return now.UnixNano() / int64(w.slot) }

func (w *bytesWithin) sum(now time.Time) int {
	cur, total := w.slotOf(now), 0
	for i, s := range w.start {
		if s > cur-int64(len(w.start)) {
			total += w.bytes[i]
		}
	}
	return total
}

func (w *bytesWithin) add(now time.Time, n int) {
	cur := w.slotOf(now)
	i := int(cur % int64(len(w.start)))
	if w.start[i] != cur {
		w.start[i], w.bytes[i] = cur, 0
	}
	w.bytes[i] += n
}
