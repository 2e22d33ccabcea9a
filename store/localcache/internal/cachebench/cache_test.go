package cachebench

import (
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/maypok86/otter/v2"
)

// The workload: 100,000 profiles of about 300 bytes, a 64 MiB bound, an
// age of a minute.
const (
	entries  = 100_000
	maxBytes = 64 << 20
	maxAge   = time.Minute
	overhead = 160 // per entry, as localcache counts it
)

func value(i uint64) string {
	return `{"name": "user ` + strconv.FormatUint(i, 10) + `", "photo": "https://img.example.com/avatar/` +
		strings.Repeat("p", 60) + `.jpg", "intro": "` + strings.Repeat("introduction ", 12) + `", "certi": null}`
}

// cache is what the tier needs of a library.
type cache interface {
	Get(k uint64) (string, bool)
	Set(k uint64, v string)
	Del(k uint64)
	Close()
}

type otterCache struct {
	c     *otter.Cache[uint64, string]
	clock *otter.CoarseClock
}

func newOtter() cache {
	clock := otter.NewCoarseClock(time.Second)
	return otterCache{otter.Must(&otter.Options[uint64, string]{
		MaximumWeight:    maxBytes,
		Weigher:          func(_ uint64, v string) uint32 { return uint32(overhead + len(v)) },
		ExpiryCalculator: otter.ExpiryWriting[uint64, string](maxAge),
		Clock:            clock,
	}), clock}
}

func (o otterCache) Get(k uint64) (string, bool) { return o.c.GetIfPresent(k) }
func (o otterCache) Set(k uint64, v string)      { o.c.Set(k, v) }
func (o otterCache) Del(k uint64)                { o.c.Invalidate(k) }
func (o otterCache) Close()                      { o.c.StopAllGoroutines(); o.clock.Stop() }

type ristrettoCache struct {
	c *ristretto.Cache[uint64, string]
}

func newRistretto() cache {
	c, err := ristretto.NewCache(&ristretto.Config[uint64, string]{
		NumCounters:        10 * entries, // ten per item, as its README advises
		MaxCost:            maxBytes,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		panic(err)
	}
	return ristrettoCache{c}
}

func (r ristrettoCache) Get(k uint64) (string, bool) { return r.c.Get(k) }
func (r ristrettoCache) Set(k uint64, v string) {
	r.c.SetWithTTL(k, v, int64(overhead+len(v)), maxAge)
}
func (r ristrettoCache) Del(k uint64) { r.c.Del(k) }
func (r ristrettoCache) Close()       { r.c.Close() }

var libraries = []struct {
	name string
	new  func() cache
}{{"otter", newOtter}, {"ristretto", newRistretto}}

func filled(c cache) {
	for i := range uint64(entries) {
		c.Set(i, value(i))
	}
	if r, ok := c.(ristrettoCache); ok {
		r.c.Wait()
	}
}

// TestSetVisibility: the tier stores a fill under a lock that an
// invalidation takes too, so that the invalidation either fails the fill or
// evicts it. That holds only if a Set is visible to the next Get at once
// and a Del after a Set leaves nothing behind.
func TestSetVisibility(t *testing.T) {
	for _, lib := range libraries {
		t.Run(lib.name, func(t *testing.T) {
			c := lib.new()
			defer c.Close()
			var invisible, resurrected int
			for i := range uint64(entries) {
				c.Set(i, "v")
				if _, ok := c.Get(i); !ok {
					invisible++
				}
				c.Set(entries+i, "v")
				c.Del(entries + i)
				// Later reads: the Set may still be queued behind the Del.
				for range 3 {
					if _, ok := c.Get(entries + i); ok {
						resurrected++
						break
					}
					runtime.Gosched()
				}
			}
			t.Logf("%s: of %d Sets, %d not visible to the next Get; of %d Set-then-Del, %d served after the Del",
				lib.name, entries, invisible, entries, resurrected)
		})
	}
}

// TestMemory: the heap a library holds for 100,000 profiles.
func TestMemory(t *testing.T) {
	for _, lib := range libraries {
		t.Run(lib.name, func(t *testing.T) {
			before := heap()
			c := lib.new()
			filled(c)
			after := heap()
			held := 0
			for i := range uint64(entries) {
				if _, ok := c.Get(i); ok {
					held++
				}
			}
			t.Logf("%s: %d of %d entries held; %.0f B per entry on the heap (values %d B)",
				lib.name, held, entries, float64(after-before)/entries, len(value(entries/2)))
			runtime.KeepAlive(c)
			c.Close()
		})
	}
}

func heap() uint64 {
	var m runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkGet: parallel reads of 100,000 entries at random; with
// writes, every 100th operation is an invalidation and a fill of another
// key (the tier's read-mostly mix).
func BenchmarkGet(b *testing.B) {
	for _, every := range []int{0, 100} {
		for _, lib := range libraries {
			name := lib.name + "/reads only"
			if every > 0 {
				name = lib.name + "/1% writes"
			}
			b.Run(name, func(b *testing.B) { benchGet(b, lib.new(), every) })
		}
	}
}

func benchGet(b *testing.B, c cache, writeEvery int) {
	defer c.Close()
	filled(c)
	v := value(1)
	var misses atomic.Int64
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		x := seed.Add(0x9E3779B97F4A7C15)
		for n := 1; pb.Next(); n++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			k := x % entries
			if writeEvery > 0 && n%writeEvery == 0 {
				c.Del(k)
				c.Set(k, v)
				continue
			}
			if _, ok := c.Get(k); !ok {
				misses.Add(1)
			}
		}
	})
	b.ReportMetric(float64(misses.Load())/float64(b.N), "misses/op")
}
