package localcache

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/headline/headline"
)

// weighUser is what the store's weigher will count for a decoded profile:
// the struct and the bytes of its strings (a nil pointer holds none).
func weighUser(_ Key, u *headline.User) int {
	n := int(unsafe.Sizeof(*u)) + len(u.Name)
	for _, p := range []*string{u.Photo, u.Intro, u.Certi} {
		if p != nil {
			n += int(unsafe.Sizeof(*p)) + len(*p)
		}
	}
	return n
}

// profile is a decoded profile of about 300 bytes, as the Flask app's
// users have: a name, a photo URL, an introduction, no certificate.
func profile(id int64) *headline.User {
	photo := "https://img.example.com/avatar/" + strconv.FormatInt(id, 10) + "/" + strings.Repeat("p", 60) + ".jpg"
	intro := strings.Repeat("introduction ", 12)
	return &headline.User{ID: id, Name: "user " + strconv.FormatInt(id, 10), Photo: &photo, Intro: &intro}
}

func filledTier(t testing.TB, n int) *Tier[*headline.User] {
	t.Helper()
	tier, err := New(Options[*headline.User]{MaxBytes: DefaultMaxBytes, Weigh: weighUser})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tier.Close)
	tier.resume()
	keys := make([]Key, 1)
	for i := range n {
		keys[0] = Key{ID: int64(i + 1), Kind: Info}
		tk := tier.Begin(keys)
		tk.Fill(0, profile(int64(i+1)))
		tk.Done()
	}
	return tier
}

func heapInUse() uint64 {
	var m runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestMemoryPerEntry measures what 100,000 profiles cost the heap, their
// values included, against what the tier counts for them (EntryOverhead
// plus the weigher's bytes): the byte bound must not undercount by much.
func TestMemoryPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 100,000 entries")
	}
	const n = 100_000
	before := heapInUse()
	tier := filledTier(t, n)
	tier.cache.CleanUp()
	after := heapInUse()
	s := tier.Stats()
	if s.Entries != n {
		t.Fatalf("%d entries held, want %d (64 MiB should hold them all)", s.Entries, n)
	}
	values := 0
	for i := range n {
		values += weighUser(Key{}, profile(int64(i+1)))
	}
	measured := float64(after-before) / n
	counted := float64(s.Bytes) / n
	t.Logf("%d profiles: heap %.0f B/entry (values %.0f B, so %.0f B of the tier's own); counted %.0f B/entry (EntryOverhead %d)",
		n, measured, float64(values)/n, measured-float64(values)/n, counted, EntryOverhead)
	if measured > 1.2*counted {
		t.Errorf("the heap holds %.0f B per entry, the bound counts %.0f: raise EntryOverhead", measured, counted)
	}
	runtime.KeepAlive(tier)
}

func BenchmarkGet(b *testing.B) {
	const n = 100_000
	tier := filledTier(b, n)
	b.Run("hit", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok := tier.Get(Key{ID: int64(i%n + 1), Kind: Info}); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("hit, parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				if _, ok := tier.Get(Key{ID: int64(i%n + 1), Kind: Info}); !ok {
					b.Fatal("miss")
				}
			}
		})
	})
	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok := tier.Get(Key{ID: int64(n + 1 + i), Kind: Info}); ok {
				b.Fatal("hit")
			}
		}
	})
	b.Run("begin, fill and done of 1 key", func(b *testing.B) {
		b.ReportAllocs()
		keys := make([]Key, 1)
		u := profile(1)
		for i := 0; b.Loop(); i++ {
			keys[0] = Key{ID: int64(i%n + 1), Kind: Info}
			tk := tier.Begin(keys)
			tk.Fill(0, u)
			tk.Done()
		}
	})
}

// BenchmarkInvalidationDelay: an outside SET, and the tier no longer
// serving the key, on loopback. ns/op is from the SET being sent to the
// eviction; after-reply is the part of it after the SET's own reply.
func BenchmarkInvalidationDelay(b *testing.B) {
	_, o, outside := singleNode(b)
	tier := newTier(b, Options[string]{})
	track(b, tier, o)
	rdb := redisOf(b, o)
	ctx := context.Background()
	k := Key{ID: 1, Kind: Info}
	set(b, tier, outside, k, "v", 0)
	var afterReply time.Duration
	for b.Loop() {
		b.StopTimer()
		fill(b, tier, rdb, k)
		b.StartTimer()
		if err := outside.Set(ctx, k.RedisKey(), "v", 0).Err(); err != nil {
			b.Fatal(err)
		}
		replied := time.Now()
		for {
			if _, hit := tier.Get(k); !hit {
				break
			}
			runtime.Gosched() // the tracker's goroutine needs the CPU
		}
		afterReply += time.Since(replied)
	}
	b.ReportMetric(float64(afterReply.Nanoseconds())/float64(b.N), "ns-after-reply/op")
}

// BenchmarkRedisGet is what a hit saves: a GET of a profile from Redis on
// loopback, one round trip (not decoded).
func BenchmarkRedisGet(b *testing.B) {
	_, o, outside := singleNode(b)
	ctx := context.Background()
	if err := outside.Set(ctx, "user:1:info", value(1), 0).Err(); err != nil {
		b.Fatal(err)
	}
	rdb := redisOf(b, o)
	b.ReportAllocs()
	for b.Loop() {
		if err := rdb.Get(ctx, "user:1:info").Err(); err != nil {
			b.Fatal(err)
		}
	}
}

func value(id int64) string {
	u := profile(id)
	return `{"name": "` + u.Name + `", "photo": "` + *u.Photo + `", "intro": "` + *u.Intro + `", "certi": null}`
}
