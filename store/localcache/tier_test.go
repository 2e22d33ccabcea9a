package localcache

import (
	"strings"
	"testing"
	"time"
)

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Key
		ok   bool
	}{
		{"user:42:info", Key{42, Info}, true},
		{"user:42:status", Key{42, Status}, true},
		{"user:9223372036854775807:info", Key{9223372036854775807, Info}, true},
		{"user:42:profile", Key{}, false},                // another key of the Flask app's
		{"user:42", Key{}, false},                        // no kind
		{"user::info", Key{}, false},                     // no id
		{"user:x:info", Key{}, false},                    // not a number
		{"user:99999999999999999999:info", Key{}, false}, // out of range
		{"{user:42:info}:lease", Key{}, false},           // headline's lease: not under the prefix
		{"{user:42:info}:written", Key{}, false},         // nor its written mark
		{"headline:apq:abc", Key{}, false},
		{"user:42:info:x", Key{}, false},
	} {
		got, ok := ParseKey(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseKey(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if ok && got.RedisKey() != tc.in {
			t.Errorf("%v.RedisKey() = %q, want %q", got, got.RedisKey(), tc.in)
		}
	}
}

// newTier returns a tier of strings, not usable until a tracker makes it
// so, closed when the test ends.
func newTier(t testing.TB, opt Options[string]) *Tier[string] {
	t.Helper()
	if opt.MaxBytes == 0 {
		opt.MaxBytes = 1 << 20
	}
	if opt.Weigh == nil {
		opt.Weigh = func(_ Key, v string) int { return len(v) }
	}
	tier, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tier.Close)
	return tier
}

// usableTier is newTier made usable as a tracker would, for tests of the
// tier alone.
func usableTier(t testing.TB, opt Options[string]) *Tier[string] {
	t.Helper()
	tier := newTier(t, opt)
	tier.resume()
	return tier
}

func TestTicket(t *testing.T) {
	k, other := Key{1, Info}, Key{2, Info}
	for _, tc := range []struct {
		name string
		// between runs after Begin and before Fill.
		between func(tier *Tier[string])
		stored  bool
	}{
		{"nothing happened: stored", func(*Tier[string]) {}, true},
		{"the key was invalidated: refused", func(tier *Tier[string]) { tier.Invalidate(k) }, false},
		{"by Redis's message: refused", func(tier *Tier[string]) { tier.invalidateRedisKeys([]string{"user:1:info"}) }, false},
		{"another key was invalidated: stored", func(tier *Tier[string]) { tier.Invalidate(other) }, true},
		{"its status key was invalidated: stored", func(tier *Tier[string]) { tier.Invalidate(Key{1, Status}) }, true},
		{"flushed: refused", func(tier *Tier[string]) { tier.flush() }, false},
		{"tracking lost: refused", func(tier *Tier[string]) { tier.suspend() }, false},
		{"tracking lost and back: refused", func(tier *Tier[string]) { tier.suspend(); tier.resume() }, false},
		{"a later read of the key began and ended: stored", func(tier *Tier[string]) {
			tk := tier.Begin([]Key{k})
			tk.Fill(0, "later")
			tk.Done()
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tier := usableTier(t, Options[string]{})
			tk := tier.Begin([]Key{other, k})
			tc.between(tier)
			got := tk.Fill(1, "v")
			tk.Done()
			if got != tc.stored {
				t.Fatalf("Fill = %v, want %v", got, tc.stored)
			}
			v, hit := tier.Get(k)
			if hit != tc.stored || (hit && v != "v") {
				t.Fatalf("Get = %q, %v; want stored=%v", v, hit, tc.stored)
			}
		})
	}

}

func TestTicketSequences(t *testing.T) {
	k := Key{1, Info}
	t.Run("an invalidation after the fill evicts it", func(t *testing.T) {
		tier := usableTier(t, Options[string]{})
		tk := tier.Begin([]Key{k})
		tk.Fill(0, "v")
		tk.Done()
		tier.Invalidate(k)
		if v, hit := tier.Get(k); hit {
			t.Fatalf("Get = %q after Invalidate", v)
		}
	})
	t.Run("of two overlapping reads, only the one begun after the invalidation fills", func(t *testing.T) {
		tier := usableTier(t, Options[string]{})
		first := tier.Begin([]Key{k})
		tier.Invalidate(k)
		second := tier.Begin([]Key{k})
		if first.Fill(0, "old") {
			t.Error("the read begun before the invalidation filled")
		}
		if !second.Fill(0, "new") {
			t.Error("the read begun after the invalidation did not fill")
		}
		first.Done()
		second.Done()
		if v, _ := tier.Get(k); v != "new" {
			t.Errorf("Get = %q, want new", v)
		}
		if n := len(tier.flight[k.shard()].m); n != 0 {
			t.Errorf("%d keys still in flight after Done", n)
		}
	})
	t.Run("not usable: Begin gives no ticket and Get does not look", func(t *testing.T) {
		tier := usableTier(t, Options[string]{})
		tk := tier.Begin([]Key{k})
		tk.Fill(0, "v")
		tk.Done()
		tier.suspend()
		if tk := tier.Begin([]Key{k}); tk != nil || tk.Fill(0, "v") {
			t.Error("Begin gave a ticket that fills while not usable")
		}
		if _, hit := tier.Get(k); hit {
			t.Error("Get hit while not usable")
		}
		tier.resume()
		if _, hit := tier.Get(k); hit {
			t.Error("an entry from before the loss survived it")
		}
		if s := tier.Stats(); s.Bypasses != 1 || s.Flushes != 3 {
			t.Errorf("stats %+v: want 1 bypass, 3 flushes (resume, suspend, resume)", s)
		}
	})
	t.Run("after Done, Fill stores nothing", func(t *testing.T) {
		tier := usableTier(t, Options[string]{})
		tk := tier.Begin([]Key{k})
		tk.Done()
		if tk.Fill(0, "v") {
			t.Error("Fill after Done stored")
		}
	})
}

func TestOff(t *testing.T) {
	tier, err := New(Options[string]{})
	if err != nil || tier != nil {
		t.Fatalf("New with MaxBytes 0 = %v, %v; want nil, nil", tier, err)
	}
	tk := tier.Begin([]Key{{1, Info}})
	if tk.Fill(0, "v") {
		t.Error("a tier that is off filled")
	}
	tk.Done()
	tier.Invalidate(Key{1, Info})
	if _, hit := tier.Get(Key{1, Info}); hit || tier.Usable() || tier.Stats() != (Stats{}) {
		t.Error("a tier that is off answers")
	}
	tr, err := NewTracker(tier, TrackerOptions{})
	if tr != nil || err != nil {
		t.Fatalf("NewTracker(nil tier) = %v, %v; want nil, nil", tr, err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options[string]{MaxBytes: -1}); err == nil {
		t.Error("a negative size was accepted")
	}
}

func TestBounds(t *testing.T) {
	t.Run("bytes", func(t *testing.T) {
		const maxBytes = 64 << 10
		tier := usableTier(t, Options[string]{MaxBytes: maxBytes})
		v := strings.Repeat("x", 300)
		for i := range 2000 {
			tk := tier.Begin([]Key{{int64(i), Info}})
			tk.Fill(0, v)
			tk.Done()
		}
		tier.cache.CleanUp()
		s := tier.Stats()
		t.Logf("%+v", s)
		if s.Bytes > maxBytes || s.Evictions == 0 {
			t.Errorf("%d bytes held, %d evictions: want at most %d bytes, some evictions", s.Bytes, s.Evictions, maxBytes)
		}
		if per := EntryOverhead + len(v); s.Entries > maxBytes/per {
			t.Errorf("%d entries held, want at most %d", s.Entries, maxBytes/per)
		}
	})
	t.Run("age", func(t *testing.T) {
		tier := usableTier(t, Options[string]{MaxAge: 50 * time.Millisecond})
		k := Key{1, Info}
		tk := tier.Begin([]Key{k})
		tk.Fill(0, "v")
		tk.Done()
		if _, hit := tier.Get(k); !hit {
			t.Fatal("no hit at once")
		}
		time.Sleep(100 * time.Millisecond)
		if _, hit := tier.Get(k); hit {
			t.Fatal("hit after MaxAge")
		}
	})
}
