package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// table is a Markdown table, printed with its columns padded.
type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	width := make([]int, len(t.head))
	for i, h := range t.head {
		width[i] = strLen(h)
	}
	for _, r := range t.rows {
		for i, c := range r {
			width[i] = max(width[i], strLen(c))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cells {
			b.WriteString(" " + c + strings.Repeat(" ", width[i]-strLen(c)) + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	line(t.head)
	sep := make([]string, len(t.head))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, r := range t.rows {
		line(r)
	}
}

func strLen(s string) int { return len([]rune(s)) }

// pair formats a headline figure and, when there is one, the Flask figure.
func pair(format string, h, f float64, flask bool) string {
	if !flask {
		return fmt.Sprintf(format, h)
	}
	return fmt.Sprintf(format+" / "+format, h, f)
}

func ratio(h, f float64) string {
	if f <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f×", h/f)
}

func (b *bench) hasFlask() bool { return len(b.servers) == 2 }

// column is one column of the main table after the scenario and c: its
// cell from the headline and the Flask figures of one scenario and c.
type column struct {
	head  string
	flask bool // only when there is a Flask app to compare with
	cell  func(h, f measure) string
}

// mainColumns are the main table's columns. Server CPU per request and its
// Flask÷headline ratio come first after req/s: unlike req/s, they do not
// depend on the load generator sharing the cores.
func mainColumns(flask bool) []column {
	hf := ""
	if flask {
		hf = " (H / F)"
	}
	both := func(format string, v func(measure) float64) func(h, f measure) string {
		return func(h, f measure) string { return pair(format, v(h), v(f), flask) }
	}
	cols := []column{
		{head: "req/s headline", cell: func(h, _ measure) string { return fmt.Sprintf("%.0f", h.rps()) }},
		{head: "req/s Flask", flask: true, cell: func(_, f measure) string { return fmt.Sprintf("%.0f", f.rps()) }},
		{head: "×", flask: true, cell: func(h, f measure) string { return ratio(h.rps(), f.rps()) }},
		{head: "server CPU ms/req headline", cell: func(h, _ measure) string { return fmt.Sprintf("%.3f", h.cpu()) }},
		{head: "server CPU ms/req Flask", flask: true, cell: func(_, f measure) string { return fmt.Sprintf("%.3f", f.cpu()) }},
		{head: "CPU/req Flask ÷ headline", flask: true, cell: func(h, f measure) string { return ratio(f.cpu(), h.cpu()) }},
		{head: "p50 ms" + hf, cell: both("%.2f", func(m measure) float64 { return ms(m.p50) })},
		{head: "p99 ms" + hf, cell: both("%.2f", func(m measure) float64 { return ms(m.p99) })},
		{head: "errors" + hf, cell: both("%.0f", func(m measure) float64 { return float64(m.errors) })},
		{head: "Redis cmds/req" + hf, cell: both("%.2f", func(m measure) float64 { return m.perReq(m.redisTotal()) })},
		{head: "Redis round trips/req" + hf, cell: both("%.2f", func(m measure) float64 { return m.perReq(m.redisReads) })},
		{head: "SELECT/req" + hf, cell: both("%.2f", func(m measure) float64 { return m.perReq(m.selects) })},
		{head: "local hit % (headline)", cell: func(h, _ measure) string { return h.local.hitRate() }},
		{head: "MariaDB+Redis CPU ms/req" + hf, cell: both("%.3f", func(m measure) float64 { return m.msPerReq(m.mysqlTicks + m.redisTicks) })},
	}
	if flask {
		return cols
	}
	var out []column
	for _, c := range cols {
		if !c.flask {
			c.head = strings.TrimSuffix(c.head, " headline")
			out = append(out, c)
		}
	}
	return out
}

// cpu is the server's CPU milliseconds per request.
func (m measure) cpu() float64 { return m.msPerReq(m.srvTicks) }

// report prints the tables, redis-benchmark's figures, headline's memory
// and the targets.
func (b *bench) report(w io.Writer) {
	title := "headline vs the Flask app"
	if !b.hasFlask() {
		title = "headline (no Flask app to compare with)"
	}
	fmt.Fprintf(w, "\n## %s: %s per run\n\n%s\n\n", title, b.o.duration, b.machine)
	main, details := b.tables()
	main.write(w)
	fmt.Fprintln(w, "\n(×: headline req/s ÷ Flask req/s. H / F: headline / Flask. Server CPU: utime+stime from /proc per completed")
	fmt.Fprintln(w, " request, of headline or of gunicorn's master and workers; CPU/req Flask ÷ headline is the figure that does not")
	fmt.Fprintln(w, " depend on the load generator sharing the cores. Redis and SQL counts are server-wide deltas: INFO commandstats")
	fmt.Fprintln(w, " (calls made inside a Lua script count as commands too), Redis's total_reads_processed (read events of its event")
	fmt.Fprintln(w, " loop: round trips, a pipeline being one), SHOW GLOBAL STATUS Com_select. Local hit %: headline's in-process tier,")
	fmt.Fprintln(w, " Δhit/(Δhit+Δmiss) of headline_local_cache_lookups_total over the run; — when headline has no tier.)")
	fmt.Fprintln(w, "\nPer run:")
	fmt.Fprintln(w)
	details.write(w)
	fmt.Fprintln(w, "\n(keyspace hits: INFO keyspace_hits/(hits+misses), lookups inside scripts included. SQL stmts/req: Questions.")
	fmt.Fprintln(w, " other CPU %: CPU of processes other than the servers, MariaDB, Redis and this load generator, % of all cores.)")
	b.mgetReport(w)
	fmt.Fprintln(w, "\nheadline's memory (RSS: VmRSS of /proc/<pid>/status; Go heap: go_memstats_heap_alloc_bytes; local tier:")
	fmt.Fprintln(w, "headline_local_cache_bytes and _entries):")
	fmt.Fprintln(w)
	b.memTable().write(w)
	fmt.Fprintln(w, "\nTargets:")
	fmt.Fprintln(w)
	b.targets().write(w)
	for _, n := range b.notes {
		fmt.Fprintln(w, "note:", n)
	}
	if log, err := os.ReadFile(b.servers[0].logPath); err == nil {
		n, sample := logSummary(string(log), 3)
		fmt.Fprintf(w, "headline logged %d warnings or errors during the benchmark\n", n)
		for _, l := range sample {
			fmt.Fprintln(w, "  ", l)
		}
	}
}

// tables builds the main table (a row per scenario and c) and the per-run
// details (a row per server as well).
func (b *bench) tables() (main, details *table) {
	ncpu := runtime.NumCPU()
	cols := mainColumns(b.hasFlask())
	main = &table{head: []string{"scenario", "c"}}
	for _, c := range cols {
		main.head = append(main.head, c.head)
	}
	details = &table{head: []string{"scenario", "c", "server", "requests", "keyspace hits %", "Redis commands/req",
		"SQL stmts/req", "local hits / misses", "load gen CPU ms/req", "other CPU %", "tests ran"}}
	for _, sc := range scenarios {
		for _, c := range b.o.concurrency {
			h, ok := b.results[runKey{sc.key, c, "headline"}]
			if !ok {
				continue
			}
			f := b.results[runKey{sc.key, c, "Flask"}]
			row := []string{sc.title, fmt.Sprint(c)}
			for _, col := range cols {
				row = append(row, col.cell(h, f))
			}
			main.add(row...)
			for _, srv := range b.servers {
				m := b.results[runKey{sc.key, c, srv.name}]
				tests := ""
				if m.tests {
					tests = "yes"
				}
				details.add(sc.key, fmt.Sprint(c), srv.name, fmt.Sprint(m.requests), fmt.Sprintf("%.1f", m.hitRate()),
					m.cmdBreakdown(), fmt.Sprintf("%.2f", m.perReq(m.questions)), m.local.counts(),
					fmt.Sprintf("%.3f", m.msPerReq(m.selfTicks)), fmt.Sprintf("%.0f", m.otherCPU(ncpu)), tests)
			}
		}
	}
	return main, details
}

// mgetReport prints redis-benchmark's MGET rate beside the warm feed's.
func (b *bench) mgetReport(w io.Writer) {
	if len(b.mget) > 0 || b.mgetNote != "" {
		fmt.Fprintln(w)
	}
	for _, c := range b.o.concurrency {
		if r, ok := b.mget[c]; ok {
			h := b.results[runKey{"feed", c, "headline"}]
			fmt.Fprintf(w, "redis-benchmark MGET of %d keys, c=%d: %.0f req/s; headline's warm users(ids:) feed: %.0f req/s = %.0f%% of it\n",
				feedSize, c, r, h.rps(), 100*h.rps()/r)
		}
	}
	if b.mgetNote != "" {
		fmt.Fprintln(w, b.mgetNote)
	}
}

// memTable is headline's memory at each moment bench recorded it.
func (b *bench) memTable() *table {
	t := &table{head: []string{"headline", "RSS", "Go heap", "local tier"}}
	for _, p := range b.mem {
		t.add(p.when, mib(float64(p.rss)), mibOrDash(p.tier.heapAlloc), tierCell(p.tier))
	}
	return t
}

// logSummary counts the non-empty lines of a log and returns up to k of
// them, each message once, cut to 300 characters.
func logSummary(log string, k int) (int, []string) {
	n := 0
	var sample []string
	seen := map[string]bool{}
	for _, l := range strings.Split(log, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		n++
		msg := l
		if i := strings.Index(l, "msg="); i >= 0 {
			msg = l[i:]
			if j := strings.Index(msg, " "+"err"); j > 0 {
				msg = msg[:j]
			}
		}
		if !seen[msg] && len(sample) < k {
			seen[msg] = true
			sample = append(sample, l[:min(len(l), 300)])
		}
	}
	return n, sample
}

// result is one run's figures, when it ran and completed requests.
func (b *bench) result(sc string, c int, srv string) (measure, bool) {
	m, ok := b.results[runKey{sc, c, srv}]
	return m, ok && m.requests > 0
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// targets checks the performance issue's targets against this run.
func (b *bench) targets() *table {
	t := &table{head: []string{"target", "measured", "verdict"}}
	b.cpuTargets(t)
	b.localTargets(t)
	const p50 = "warm user(id) p50 ≤ 0.25 ms, c=1"
	if h, ok := b.result("user", 1, "headline"); ok {
		t.add(p50, fmt.Sprintf("%.3f ms", ms(h.p50)), verdict(ms(h.p50) <= 0.25))
	} else {
		t.add(p50, "not measured (needs -concurrency with 1)", "—")
	}
	b.coldTarget(t)
	b.memTarget(t)
	return t
}

// cpuTargets: headline's server CPU per request against Flask's, at every
// concurrency.
func (b *bench) cpuTargets(t *table) {
	for _, x := range []struct {
		sc, what string
		want     float64
	}{{"user", "warm user(id)", 10}, {"feed", "warm 20-author feed", 20}} {
		target := fmt.Sprintf("%s: headline's server CPU/req ≤ 1/%.0f of Flask's", x.what, x.want)
		n := 0
		for _, c := range b.o.concurrency {
			h, ok1 := b.result(x.sc, c, "headline")
			f, ok2 := b.result(x.sc, c, "Flask")
			if !ok1 || !ok2 {
				continue
			}
			n++
			if h.cpu() <= 0 {
				t.add(fmt.Sprintf("%s, c=%d", target, c), "headline's CPU was below /proc's resolution", "—")
				continue
			}
			r := f.cpu() / h.cpu()
			t.add(fmt.Sprintf("%s, c=%d", target, c), fmt.Sprintf("1/%.1f (%.3f vs %.3f ms)", r, h.cpu(), f.cpu()), verdict(r >= x.want))
		}
		if n == 0 {
			t.add(target, "not measured (needs the Flask app and the "+x.sc+" scenario)", "—")
		}
	}
}

// localTargets: warm requests, the working set local, make (next to) no
// Redis commands; the hot-key runs are also checked on their own. They are
// not judged ("—") when headline has no tier, or when the tier was not
// filled before each run (-local-warmup=false).
func (b *bench) localTargets(t *table) {
	unjudged := ""
	switch {
	case !b.tier:
		unjudged = fmt.Sprintf("headline has no local tier (no %s in /metrics)", metricLookups)
	case !b.o.localWarmup:
		unjudged = "not judged with -local-warmup=false: the tier fills during the runs"
	}
	for _, g := range []struct {
		what string
		in   func(scenario) bool
	}{
		{"warm requests, working set local: ≤ 0.01 Redis commands/req", func(sc scenario) bool { return !sc.cold }},
		{"hot keys (the same 20 authors): ≤ 0.01 Redis commands/req", func(sc scenario) bool { return sc.key == "hot" }},
	} {
		n, ok, worst, most := 0, true, "", -1.0
		for _, sc := range scenarios {
			for _, c := range b.o.concurrency {
				h, measured := b.result(sc.key, c, "headline")
				if !measured || !g.in(sc) {
					continue
				}
				n++
				cmds := h.perReq(h.redisTotal())
				ok = ok && cmds <= 0.01
				if cmds > most {
					most = cmds
					worst = fmt.Sprintf("most: %s c=%d, %.3f cmds/req (%s), local hit %s", sc.key, c, cmds, h.cmdBreakdown(), h.local.hitPct())
					if h.tests {
						worst += " (test binaries ran: their Redis traffic counts too)"
					}
				}
			}
		}
		switch {
		case n == 0:
			t.add(g.what, "not measured", "—")
		case unjudged != "":
			t.add(fmt.Sprintf("%s (%d runs)", g.what, n), worst+"; "+unjudged, "—")
		default:
			t.add(fmt.Sprintf("%s (%d runs)", g.what, n), worst, verdict(ok))
		}
	}
}

// coldTarget: a cold 20-author batch is 2 Redis round trips (the read and
// the write-back) and 1 SELECT.
func (b *bench) coldTarget(t *table) {
	const target = "cold 20-author batch: 2 Redis round trips and 1 SELECT"
	n, ok, worst, most := 0, true, "", -1.0
	for _, c := range b.o.concurrency {
		h, measured := b.result("feed-cold", c, "headline")
		if !measured {
			continue
		}
		n++
		reads, sel := h.perReq(h.redisReads), h.perReq(h.selects)
		ok = ok && reads <= 2.05 && sel <= 1.01
		if reads > most {
			most = reads
			worst = fmt.Sprintf("c=%d: %.2f round trips (%s), %.2f SELECT", c, reads, h.cmdBreakdown(), sel)
		}
	}
	if n == 0 {
		t.add(target, "not measured", "—")
		return
	}
	t.add(fmt.Sprintf("%s (%d runs)", target, n), "most: "+worst, verdict(ok))
}

// memTarget: with every profile local, RSS stays within the tier's bound
// (LOCAL_CACHE_SIZE) over the runtime's own: a fresh headline's with the
// tier as configured against one's with LOCAL_CACHE_SIZE=0, after the same
// requests.
func (b *bench) memTarget(t *table) {
	target := fmt.Sprintf("RSS with all %d profiles local ≤ RSS without the tier + LOCAL_CACHE_SIZE", b.o.users)
	var twin, base *memPoint
	for i := range b.mem {
		switch b.mem[i].kind {
		case memTwin:
			twin = &b.mem[i]
		case memNoTier:
			base = &b.mem[i]
		}
	}
	switch {
	case twin == nil || base == nil:
		t.add(target, "not measured (-local-warmup=false)", "—")
		return
	case !twin.tier.present:
		t.add(target, fmt.Sprintf("RSS %s; headline has no local tier (no %s in /metrics)", mib(float64(twin.rss)), metricLookups), "—")
		return
	}
	growth := twin.rss - base.rss
	got := fmt.Sprintf("RSS %s = %s without the tier + %s; tier %s; Go heap %s", mib(float64(twin.rss)), mib(float64(base.rss)),
		mib(float64(growth)), tierCell(twin.tier), mibOrDash(twin.tier.heapAlloc))
	if twin.tier.entries < float64(b.o.users) {
		got += fmt.Sprintf("; only %.0f of %d profiles local", twin.tier.entries, b.o.users)
	}
	if b.localBound < 0 {
		t.add(target, got+"; LOCAL_CACHE_SIZE unreadable", "—")
		return
	}
	got += "; bound " + mib(float64(b.localBound))
	t.add(target, got, verdict(growth <= b.localBound && int64(twin.tier.bytes) <= b.localBound))
}
