package gcpace

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

const mib = 1 << 20

func TestPercent(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		percent                  int
		live, held, bound        int64
		want                     int
		wantGoalMiB, wantTierMiB float64 // the heap goal, and what the tier adds to it
	}{
		{name: "nothing held", percent: 400, live: 10 * mib, held: 0, bound: 64 * mib, want: 400},
		// The bench's case: 30.5 MiB of profiles, 10 MiB else.
		{name: "tier a third full", percent: 400, live: 40 * mib, held: 30 * mib, bound: 64 * mib,
			want: 142, wantGoalMiB: 97, wantTierMiB: 47},
		{name: "tier full: no headroom for it", percent: 400, live: 74 * mib, held: 64 * mib, bound: 64 * mib,
			want: 54, wantGoalMiB: 114, wantTierMiB: 64},
		{name: "little held: GOGC's headroom over it too", percent: 400, live: 12 * mib, held: 2 * mib, bound: 64 * mib,
			want: 400, wantGoalMiB: 60, wantTierMiB: 10},
		{name: "held counted above live", percent: 400, live: 30 * mib, held: 31 * mib, bound: 64 * mib,
			want: 108, wantGoalMiB: 62.4},
		{name: "GOGC 100", percent: 100, live: 40 * mib, held: 30 * mib, bound: 64 * mib,
			want: 67, wantGoalMiB: 66.8},
		{name: "GOGC 0 stays 0", percent: 0, live: 40 * mib, held: 30 * mib, bound: 64 * mib, want: 0},
		{name: "never below 1", percent: 1, live: 1000 * mib, held: 999 * mib, bound: 1000 * mib, want: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Percent(tc.percent, tc.live, tc.held, tc.bound)
			if got != tc.want {
				t.Fatalf("Percent(%d, %d MiB, %d MiB, %d MiB) = %d, want %d",
					tc.percent, tc.live/mib, tc.held/mib, tc.bound/mib, got, tc.want)
			}
			if tc.wantGoalMiB == 0 {
				return
			}
			goal := float64(tc.live) * (1 + float64(got)/100) / mib
			if goal < tc.wantGoalMiB-1 || goal > tc.wantGoalMiB+1 {
				t.Errorf("heap goal %.1f MiB, want about %.1f", goal, tc.wantGoalMiB)
			}
			if tc.wantTierMiB == 0 {
				return
			}
			// What the same heap without the tier would reach.
			other := float64(tc.live - tc.held)
			without := other * (1 + float64(tc.percent)/100) / mib
			if tier := goal - without; tier > float64(tc.bound)/mib+1 || tier < tc.wantTierMiB-1 || tier > tc.wantTierMiB+1 {
				t.Errorf("the tier adds %.1f MiB to the goal, want about %.1f, at most the bound %d MiB",
					tier, tc.wantTierMiB, tc.bound/mib)
			}
		})
	}
}

// TestPacerSetsThePercentAfterACollection holds 32 MiB as a tier would and
// checks that the collector's percent follows, and comes back on Stop.
func TestPacerSetsThePercentAfterACollection(t *testing.T) {
	old := debug.SetGCPercent(400)
	defer debug.SetGCPercent(old)

	var held [][]byte
	var heldBytes int64
	for range 32 {
		held = append(held, make([]byte, mib))
		heldBytes += mib
	}
	p := Start(400, 64*mib, func() int64 { return heldBytes })
	defer p.Stop()

	deadline := time.Now().Add(5 * time.Second)
	for p.Percent() == 400 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the cleanup runs in its own goroutine
	}
	got := p.Percent()
	if got >= 400 || got < 1 {
		t.Fatalf("after collections with 32 MiB held the pacer's percent is %d, want below 400", got)
	}
	if now := debug.SetGCPercent(got); now != got {
		t.Errorf("the runtime's GC percent is %d, the pacer says %d", now, got)
	}
	runtime.KeepAlive(held)

	p.Stop()
	if now := debug.SetGCPercent(400); now != 400 {
		t.Errorf("after Stop the GC percent is %d, want 400 restored", now)
	}
	// A collection after Stop changes nothing.
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	if now := debug.SetGCPercent(400); now != 400 {
		t.Errorf("a collection after Stop set the GC percent to %d", now)
	}
}

// TestStartDoesNothing: with the collector off, no tier, or a memory
// limit, the percent stays the operator's.
func TestStartDoesNothing(t *testing.T) {
	old := debug.SetGCPercent(400)
	defer debug.SetGCPercent(old)
	held := func() int64 { return 1 << 30 }
	for _, tc := range []struct {
		name    string
		percent int
		bound   int64
		limit   int64
	}{
		{"GOGC=off", -1, 64 * mib, math.MaxInt64},
		{"no tier", 400, 0, math.MaxInt64},
		{"GOMEMLIMIT", 400, 64 * mib, 512 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oldLimit := debug.SetMemoryLimit(tc.limit)
			defer debug.SetMemoryLimit(oldLimit)
			p := Start(tc.percent, tc.bound, held)
			for range 3 {
				runtime.GC()
				time.Sleep(10 * time.Millisecond)
			}
			p.Stop()
			if now := debug.SetGCPercent(400); now != 400 {
				t.Errorf("the GC percent is %d, want 400 untouched", now)
			}
		})
	}
}
