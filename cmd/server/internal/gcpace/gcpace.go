// Package gcpace keeps the garbage collector's headroom in proportion to
// the part of the heap that can become garbage, not to the whole live heap.
//
// GOGC sets the heap goal at live × (1 + GOGC/100): with headline's 400,
// five times the live heap. That suits a heap of request garbage, but the
// local tier is live heap that stays: with 30 MiB of profiles held, GOGC
// 400 alone lets the heap reach 150 MiB more than without the tier, well
// over LOCAL_CACHE_SIZE. After each collection the pacer sets the GC
// percent so that the goal is
//
//	live + GOGC% × (live − held) + min(GOGC% × held, (bound − held) / 2)
//
// where held is what the tier counts and bound is LOCAL_CACHE_SIZE: the
// rest of the heap keeps GOGC's headroom, and the tier's own headroom is
// at most half of what it has left of its bound, so that the tier and its
// headroom together stay within the bound. A full tier gets none.
package gcpace

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// minOther is the least the heap outside the tier is taken to be: the
// runtime's own heap minimum at GOGC 100, so that a tier counted a little
// above the live heap does not leave the rest no headroom.
const minOther = 4 << 20

// Pacer sets the GC percent after each collection while it runs.
type Pacer struct {
	percent int
	bound   int64
	held    func() int64

	stopped atomic.Bool
	last    atomic.Int64 // the percent set last, for tests
	sample  []metrics.Sample
}

// Start makes a pacer for a GOGC of percent and a tier bounded by bound
// bytes whose weight held reports, and starts it; Stop ends it and
// restores percent. It does nothing with the collector off (percent < 0),
// no tier (bound ≤ 0), or a memory limit (GOMEMLIMIT): the limit is then
// the operator's own bound, and the collector is left to it.
func Start(percent int, bound int64, held func() int64) *Pacer {
	p := &Pacer{percent: percent, bound: bound, held: held,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	p.last.Store(int64(percent))
	if percent <= 0 || bound <= 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		p.stopped.Store(true)
		return p
	}
	p.arm()
	return p
}

// Stop ends the pacer and restores the GC percent it was started with.
func (p *Pacer) Stop() {
	if p.stopped.CompareAndSwap(false, true) {
		debug.SetGCPercent(p.percent)
	}
}

// Percent is the GC percent the pacer set last.
func (p *Pacer) Percent() int { return int(p.last.Load()) }

// arm registers a cleanup on an object nothing refers to, so that it runs
// after the next collection; each run arms the next. The object holds a
// pointer so that the tiny allocator cannot batch it with live ones.
func (p *Pacer) arm() {
	runtime.AddCleanup(&struct{ _ *byte }{}, func(p *Pacer) { p.collected() }, p)
}

func (p *Pacer) collected() {
	if p.stopped.Load() {
		return
	}
	metrics.Read(p.sample)
	if p.sample[0].Value.Kind() == metrics.KindUint64 {
		pct := Percent(p.percent, int64(p.sample[0].Value.Uint64()), p.held(), p.bound)
		if int64(pct) != p.last.Load() {
			p.last.Store(int64(pct))
			debug.SetGCPercent(pct)
		}
	}
	p.arm()
}

// Percent is the GC percent that gives a heap of live bytes, held of them
// in the tier of the given bound, the goal in the package comment under a
// GOGC of percent. It is percent when nothing is held, and at least 1.
func Percent(percent int, live, held, bound int64) int {
	if held <= 0 || live <= 0 || percent <= 0 {
		return percent
	}
	other := max(live-held, minOther)
	headroom := other * int64(percent) / 100
	if spare := (bound - held) / 2; spare > 0 {
		headroom += min(held*int64(percent)/100, spare)
	}
	pct := int(headroom * 100 / live)
	return max(1, min(pct, percent))
}
