package main

import (
	"strings"
	"testing"
	"time"
)

// measured is a measure of 1000 requests in a second whose server spent
// cpuMS milliseconds of CPU per request (in /proc's 10 ms ticks).
func measured(cpuMS float64, p50 time.Duration, redisCmds map[string]int64, reads, selects int64, local localDelta) measure {
	return measure{
		loadResult: loadResult{requests: 1000, elapsed: time.Second, p50: p50, p99: 2 * p50},
		srvTicks:   int64(cpuMS * 1000 * clockTicks / 1000),
		redisCmds:  redisCmds, redisReads: reads, selects: selects, local: local,
	}
}

func cells(t *testing.T, cols []column, h, f measure) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, c := range cols {
		m[c.head] = c.cell(h, f)
	}
	return m
}

func TestMainColumns(t *testing.T) {
	h := measured(0.1, 300*time.Microsecond, map[string]int64{"mget": 5}, 5, 0, localDelta{present: true, hits: 995, misses: 5})
	f := measured(1.2, 900*time.Microsecond, map[string]int64{"get": 1000}, 1000, 0, localDelta{})
	got := cells(t, mainColumns(true), h, f)
	for head, want := range map[string]string{
		"req/s headline":             "1000",
		"×":                          "1.0×",
		"server CPU ms/req headline": "0.100",
		"server CPU ms/req Flask":    "1.200",
		"CPU/req Flask ÷ headline":   "12.0×",
		"p50 ms (H / F)":             "0.30 / 0.90",
		"Redis cmds/req (H / F)":     "0.01 / 1.00",
		"local hit % (headline)":     "99.5",
	} {
		if got[head] != want {
			t.Errorf("%s: got %q, want %q", head, got[head], want)
		}
	}
	// CPU per request and its ratio come right after req/s.
	cols := mainColumns(true)
	if cols[3].head != "server CPU ms/req headline" || cols[5].head != "CPU/req Flask ÷ headline" {
		t.Errorf("columns %q %q", cols[3].head, cols[5].head)
	}
	// headline alone: no Flask columns, and no "headline" in the heads.
	alone := cells(t, mainColumns(false), h, measure{})
	if alone["server CPU ms/req"] != "0.100" || alone["p50 ms"] != "0.30" || alone["local hit % (headline)"] != "99.5" || len(alone) != 10 {
		t.Errorf("headline alone: %v", alone)
	}
	if got := cells(t, mainColumns(true), measured(0, 0, nil, 0, 0, localDelta{}), f)["CPU/req Flask ÷ headline"]; got != "—" {
		t.Errorf("no headline CPU: %q", got)
	}
}

// targetRows returns the targets table's rows by their first cell, its
// count of runs left out.
func targetRows(b *bench) map[string][]string {
	rows := map[string][]string{}
	for _, r := range b.targets().rows {
		key, _, _ := strings.Cut(r[0], " (")
		rows[key] = r
	}
	return rows
}

func TestTargets(t *testing.T) {
	const memRow = "RSS with all 100000 profiles local ≤ RSS without the tier + LOCAL_CACHE_SIZE"
	local := localDelta{present: true, hits: 1000}
	b := &bench{
		o:          &options{concurrency: []int{1, 32}, users: 100000, localWarmup: true},
		servers:    []*process{{name: "headline"}, {name: "Flask"}},
		localBound: 64 << 20,
		tier:       true,
		results: map[runKey]measure{
			{"user", 1, "headline"}:       measured(0.2, 240*time.Microsecond, nil, 0, 0, local),
			{"user", 1, "Flask"}:          measured(0.6, time.Millisecond, map[string]int64{"get": 1000}, 1000, 0, localDelta{}),
			{"user", 32, "headline"}:      measured(0.05, time.Millisecond, map[string]int64{"ping": 3}, 3, 0, local),
			{"user", 32, "Flask"}:         measured(0.5, time.Millisecond, map[string]int64{"get": 1000}, 1000, 0, localDelta{}),
			{"feed", 1, "headline"}:       measured(0.1, time.Millisecond, nil, 0, 0, local),
			{"feed", 1, "Flask"}:          measured(2.0, time.Millisecond, nil, 0, 0, localDelta{}),
			{"hot", 32, "headline"}:       measured(0.1, time.Millisecond, map[string]int64{"mget": 20}, 20, 0, local),
			{"feed-cold", 1, "headline"}:  measured(1, time.Millisecond, map[string]int64{"mget": 1000, "evalsha": 1000}, 2000, 1000, localDelta{}),
			{"feed-cold", 32, "headline"}: measured(1, time.Millisecond, map[string]int64{"mget": 1000}, 3000, 1000, localDelta{}),
		},
		mem: []memPoint{
			{when: "after start", rss: 20 << 20},
			{when: "after the scenarios", rss: 150 << 20},
			{when: "fresh", kind: memTwin, rss: 90 << 20, tier: localTier{present: true, bytes: 52e6, entries: 100000, usable: true}},
			{when: "fresh, no tier", kind: memNoTier, rss: 30 << 20},
		},
	}
	rows := targetRows(b)
	for key, want := range map[string][2]string{
		"warm user(id): headline's server CPU/req ≤ 1/10 of Flask's, c=1":       {"1/3.0 (0.200 vs 0.600 ms)", "missed"},
		"warm user(id): headline's server CPU/req ≤ 1/10 of Flask's, c=32":      {"1/10.0 (0.050 vs 0.500 ms)", "met"},
		"warm 20-author feed: headline's server CPU/req ≤ 1/20 of Flask's, c=1": {"1/20.0 (0.100 vs 2.000 ms)", "met"},
		"warm requests, working set local: ≤ 0.01 Redis commands/req":           {"most: hot c=32, 0.020 cmds/req (mget 0.02), local hit 100.0%", "missed"},
		"hot keys":                         {"most: hot c=32, 0.020 cmds/req (mget 0.02), local hit 100.0%", "missed"},
		"warm user(id) p50 ≤ 0.25 ms, c=1": {"0.240 ms", "met"},
		"cold 20-author batch: 2 Redis round trips and 1 SELECT": {"most: c=32: 3.00 round trips (mget 1.00), 1.00 SELECT", "missed"},
		memRow: {"RSS 90.0 MiB = 30.0 MiB without the tier + 60.0 MiB; tier 49.6 MiB in 100000 entries; Go heap —; bound 64.0 MiB", "met"},
	} {
		r, ok := rows[key]
		if !ok {
			t.Errorf("no row %q in %v", key, rows)
			continue
		}
		if r[1] != want[0] || r[2] != want[1] {
			t.Errorf("%s: got %q, %q; want %q, %q", key, r[1], r[2], want[0], want[1])
		}
	}
	if _, ok := rows["warm 20-author feed: headline's server CPU/req ≤ 1/20 of Flask's, c=32"]; ok {
		t.Error("a row for a run without Flask's figures")
	}

	// Within 0.01 commands a request, the local targets are met; over the
	// bound, the memory target is missed.
	b.results[runKey{"hot", 32, "headline"}] = measured(0.1, time.Millisecond, map[string]int64{"ping": 5}, 5, 0, local)
	b.mem[2].rss = 100 << 20 // 70 MiB over the one without a tier
	rows = targetRows(b)
	if r := rows["warm requests, working set local: ≤ 0.01 Redis commands/req"]; r[2] != "met" || !strings.Contains(r[0], "(4 runs)") {
		t.Errorf("local: %q", r)
	}
	if r := rows["hot keys"]; r[2] != "met" {
		t.Errorf("hot: %q", r)
	}
	if r := rows[memRow]; r[2] != "missed" {
		t.Errorf("memory: %q", r)
	}
	b.mem[2].rss, b.mem[2].tier.entries = 90<<20, 99000
	if r := targetRows(b)[memRow]; r[2] != "met" || !strings.Contains(r[1], "only 99000 of 100000 profiles local") {
		t.Errorf("not all local: %q", r)
	}

	// Without a tier, or without the sweep before each run, the local
	// targets are not judged; their figures are still shown.
	for _, c := range []struct {
		tier, warmup bool
		why          string
	}{
		{false, true, "; headline has no local tier (no headline_local_cache_lookups_total in /metrics)"},
		{false, false, "; headline has no local tier"},
		{true, false, "; not judged with -local-warmup=false: the tier fills during the runs"},
	} {
		b.tier, b.o.localWarmup = c.tier, c.warmup
		rows = targetRows(b)
		for _, key := range []string{"warm requests, working set local: ≤ 0.01 Redis commands/req", "hot keys"} {
			if r := rows[key]; r[2] != "—" || !strings.HasPrefix(r[1], "most: hot c=32, 0.005 cmds/req (ping 0.01)") || !strings.Contains(r[1], c.why) {
				t.Errorf("tier %v, warm-up %v: %q", c.tier, c.warmup, r)
			}
		}
	}
	b.tier, b.o.localWarmup = true, true

	// Without a tier, or without the step, the memory target is not judged.
	b.mem[2].tier = localTier{}
	if r := targetRows(b)[memRow]; r[2] != "—" || !strings.Contains(r[1], "no local tier") {
		t.Errorf("no tier: %q", r)
	}
	b.mem = b.mem[:2]
	if r := targetRows(b)[memRow]; r[2] != "—" || !strings.Contains(r[1], "-local-warmup=false") {
		t.Errorf("no step: %q", r)
	}
}
