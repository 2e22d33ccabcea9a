package persisted

import (
	"net/netip"
	"testing"
	"time"
)

func TestRegistrationBudget(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	const ttl = 64 * time.Minute // one-minute slots
	limits := Limits{Bytes: 1000, PerClient: 3, ClientWindow: time.Hour}.withDefaults()
	addr := netip.MustParseAddr
	type step struct {
		at     time.Duration // after t0
		client string        // "": unknown
		cost   int
		want   refusal
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"a client gets its burst, then one per window/PerClient", []step{
			{0, "192.0.2.1", 10, ""}, {0, "192.0.2.1", 10, ""}, {0, "192.0.2.1", 10, ""},
			{0, "192.0.2.1", 10, refusedClient},
			{0, "192.0.2.2", 10, ""}, // another client has its own
			{19 * time.Minute, "192.0.2.1", 10, refusedClient},
			{20 * time.Minute, "192.0.2.1", 10, ""},
			{20 * time.Minute, "192.0.2.1", 10, refusedClient},
		}},
		{"an IPv6 /64 is one client, and an IPv4-mapped address its IPv4 one", []step{
			{0, "2001:db8::1", 10, ""}, {0, "2001:db8::2", 10, ""}, {0, "2001:db8::ffff:1", 10, ""},
			{0, "2001:db8::3", 10, refusedClient},
			{0, "2001:db8:0:1::1", 10, ""},
			{0, "192.0.2.9", 10, ""}, {0, "::ffff:192.0.2.9", 10, ""}, {0, "192.0.2.9", 10, ""},
			{0, "::ffff:192.0.2.9", 10, refusedClient},
		}},
		{"an unknown client has no per-client budget", []step{
			{0, "", 10, ""}, {0, "", 10, ""}, {0, "", 10, ""}, {0, "", 10, ""}, {0, "", 10, ""},
		}},
		{"a registration the instance refuses costs its client nothing", []step{
			{0, "", 985, ""},
			{0, "192.0.2.1", 20, refusedInstance}, {0, "192.0.2.1", 20, refusedInstance}, {0, "192.0.2.1", 20, refusedInstance},
			{0, "192.0.2.1", 5, ""}, {0, "192.0.2.1", 5, ""}, {0, "192.0.2.1", 5, ""},
			{0, "192.0.2.1", 5, refusedClient},
		}},
		{"the instance writes at most Bytes within a TTL", []step{
			{0, "", 600, ""},
			{30 * time.Minute, "192.0.2.1", 500, refusedInstance},
			{30 * time.Minute, "192.0.2.1", 400, ""},
			{30 * time.Minute, "192.0.2.1", 1, refusedInstance},
			// The 600 bytes of minute 0 may live until 65 minutes: a TTL
			// after the end of their slot.
			{ttl, "", 600, refusedInstance},
			{ttl + time.Minute, "", 600, ""},
			{ttl + time.Minute, "192.0.2.1", 1, refusedInstance}, // minute 30's 400 still live
			{ttl + 31*time.Minute, "192.0.2.1", 400, ""},
			{ttl + 31*time.Minute, "192.0.2.1", 1, refusedInstance},
		}},
		{"a registration larger than the whole budget is refused", []step{
			{0, "", 1001, refusedInstance}, {0, "", 1000, ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBudget(limits, ttl)
			for i, s := range tc.steps {
				var a netip.Addr
				if s.client != "" {
					a = addr(s.client)
				}
				if got := b.take(a, s.cost, t0.Add(s.at)); got != s.want {
					t.Errorf("step %d (%v, %q, %d bytes): %q, want %q", i, s.at, s.client, s.cost, got, s.want)
				}
			}
		})
	}
}
