package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
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

// report prints the tables, redis-benchmark's figures and the targets.
func (b *bench) report(w io.Writer) {
	tbl, details := b.tables()
	title := "headline vs the Flask app"
	if !b.hasFlask() {
		title = "headline (no Flask app to compare with)"
	}
	fmt.Fprintf(w, "\n## %s: %s per run\n\n%s\n\n", title, b.o.duration, b.machine)
	tbl.write(w)
	fmt.Fprintln(w, "\n(×: headline req/s ÷ Flask req/s. H / F: headline / Flask. Server CPU: utime+stime from /proc per completed")
	fmt.Fprintln(w, " request, of headline or of gunicorn's master and workers. Redis and SQL counts are server-wide deltas: INFO")
	fmt.Fprintln(w, " commandstats (calls made inside a Lua script count as commands too), Redis's total_reads_processed (read events")
	fmt.Fprintln(w, " of its event loop: round trips, a pipeline being one), SHOW GLOBAL STATUS Com_select.)")
	fmt.Fprintln(w, "\nPer run:")
	fmt.Fprintln(w)
	details.write(w)
	fmt.Fprintln(w, "\n(keyspace hits: INFO keyspace_hits/(hits+misses), lookups inside scripts included. SQL stmts/req: Questions.")
	fmt.Fprintln(w, " other CPU %: CPU of processes other than the servers, MariaDB, Redis and this load generator, % of all cores.)")
	b.reportMGET(w)
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

// tables are the report's summary, headline beside the Flask app, and its
// per-run details.
func (b *bench) tables() (tbl, details *table) {
	flask := b.hasFlask()
	ncpu := runtime.NumCPU()
	tbl = &table{head: []string{"scenario", "c", "req/s headline", "req/s Flask", "×", "p50 ms", "p99 ms", "errors",
		"Redis cmds/req", "Redis round trips/req", "SELECT/req", "server CPU ms/req", "MariaDB+Redis CPU ms/req"}}
	if !flask {
		tbl.head = slices.Delete(tbl.head, 3, 5)
		tbl.head[2] = "req/s"
	} else {
		for _, i := range []int{5, 6, 7, 8, 9, 10, 11, 12} {
			tbl.head[i] += " (H / F)"
		}
	}
	details = &table{head: []string{"scenario", "c", "server", "requests", "keyspace hits %", "Redis commands/req",
		"SQL stmts/req", "load gen CPU ms/req", "other CPU %", "tests ran"}}
	for _, sc := range scenarios {
		for _, c := range b.o.concurrency {
			h, ok := b.results[runKey{sc.key, c, "headline"}]
			if !ok {
				continue
			}
			f := b.results[runKey{sc.key, c, "Flask"}]
			row := []string{sc.title, fmt.Sprint(c), fmt.Sprintf("%.0f", h.rps())}
			if flask {
				row = append(row, fmt.Sprintf("%.0f", f.rps()), ratio(h.rps(), f.rps()))
			}
			row = append(row,
				pair("%.2f", ms(h.p50), ms(f.p50), flask),
				pair("%.2f", ms(h.p99), ms(f.p99), flask),
				pair("%.0f", float64(h.errors), float64(f.errors), flask),
				pair("%.2f", h.perReq(h.redisTotal()), f.perReq(f.redisTotal()), flask),
				pair("%.2f", h.perReq(h.redisReads), f.perReq(f.redisReads), flask),
				pair("%.2f", h.perReq(h.selects), f.perReq(f.selects), flask),
				pair("%.3f", h.msPerReq(h.srvTicks), f.msPerReq(f.srvTicks), flask),
				pair("%.3f", h.msPerReq(h.mysqlTicks+h.redisTicks), f.msPerReq(f.mysqlTicks+f.redisTicks), flask),
			)
			tbl.add(row...)
			for _, srv := range b.servers {
				m := b.results[runKey{sc.key, c, srv.name}]
				tests := ""
				if m.tests {
					tests = "yes"
				}
				details.add(sc.key, fmt.Sprint(c), srv.name, fmt.Sprint(m.requests), fmt.Sprintf("%.1f", m.hitRate()),
					m.cmdBreakdown(), fmt.Sprintf("%.2f", m.perReq(m.questions)),
					fmt.Sprintf("%.3f", m.msPerReq(m.selfTicks)), fmt.Sprintf("%.0f", m.otherCPU(ncpu)), tests)
			}
		}
	}
	return tbl, details
}

// reportMGET prints redis-benchmark's MGET figures beside the warm feed's.
func (b *bench) reportMGET(w io.Writer) {
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

// verdict says whether a target was met.
func verdict(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// targets checks issue 5's targets against this run's figures.
func (b *bench) targets() *table {
	t := &table{head: []string{"target", "measured", "met"}}
	hi := b.o.concurrency[len(b.o.concurrency)-1]
	if slices.Contains(b.o.concurrency, 32) {
		hi = 32
	}
	get := func(sc string, c int, srv string) (measure, bool) {
		m, ok := b.results[runKey{sc, c, srv}]
		return m, ok && m.requests > 0
	}
	for _, x := range []struct {
		sc, what string
		want     float64
	}{{"user", "warm user(id)", 10}, {"feed", "warm 20-author feed", 20}, {"feed-cold", "cold 20-author feed", 20}} {
		target := fmt.Sprintf("%s ≥ %.0f× Flask req/s, c=%d", x.what, x.want, hi)
		h, ok1 := get(x.sc, hi, "headline")
		f, ok2 := get(x.sc, hi, "Flask")
		if !ok1 || !ok2 {
			t.add(target, "not measured (needs the Flask app)", "—")
			continue
		}
		r := h.rps() / f.rps()
		t.add(target, fmt.Sprintf("%.1f× (%.0f vs %.0f)", r, h.rps(), f.rps()), verdict(r >= x.want))
	}
	if h, ok := get("user", 1, "headline"); ok {
		t.add("warm user(id) p50 ≤ 0.5 ms, c=1", fmt.Sprintf("%.3f ms", ms(h.p50)), verdict(ms(h.p50) <= 0.5))
	} else {
		t.add("warm user(id) p50 ≤ 0.5 ms, c=1", "not measured (needs -concurrency with 1)", "—")
	}
	if h, ok := get("feed", hi, "headline"); ok && b.mget[hi] > 0 {
		r := h.rps() / b.mget[hi]
		t.add(fmt.Sprintf("warm feed ≥ 35%% of redis-benchmark's %d-key MGET, c=%d", feedSize, hi),
			fmt.Sprintf("%.0f%% (%.0f vs %.0f)", 100*r, h.rps(), b.mget[hi]), verdict(r >= 0.35))
	} else {
		t.add("warm feed ≥ 35% of redis-benchmark's MGET", "not measured", "—")
	}
	b.roundTripTargets(t, get)
	return t
}

// roundTripTargets adds the round trips, as issue 5 has them: a warm
// request is one MGET; a cold one an MGET, one SELECT and one pipeline of
// writes. (headline's leases add a pipeline of SET NX before the SELECT: 3
// round trips.)
func (b *bench) roundTripTargets(t *table, get func(sc string, c int, srv string) (measure, bool)) {
	type worst struct {
		desc  string
		reads float64
		ok    bool
		n     int
	}
	warm, cold := worst{ok: true}, worst{ok: true}
	for _, sc := range scenarios {
		for _, c := range b.o.concurrency {
			h, ok := get(sc.key, c, "headline")
			if !ok {
				continue
			}
			reads, mget, cmds, sel := h.perReq(h.redisReads), h.perReq(h.redisCmds["mget"]), h.perReq(h.redisTotal()), h.perReq(h.selects)
			w, good := &warm, reads <= 1.05 && mget <= 1.01 && cmds <= 1.01 && sel < 0.01
			if sc.key == "feed-cold" {
				w, good = &cold, reads <= 2.05 && mget <= 1.01 && sel <= 1.01
			}
			w.n++
			w.ok = w.ok && good
			if w.desc == "" || reads > w.reads {
				w.desc, w.reads = fmt.Sprintf("%s c=%d: %.2f reads, %s, %.2f SELECT", sc.key, c, reads, h.cmdBreakdown(), sel), reads
				if h.tests {
					w.desc += " (test binaries ran: their Redis and SQL traffic counts too)"
				}
			}
		}
	}
	if warm.n > 0 {
		t.add(fmt.Sprintf("warm: 1 Redis round trip (1 MGET), no SQL, per request (%d runs)", warm.n), "most reads: "+warm.desc, verdict(warm.ok))
	}
	if cold.n > 0 {
		t.add(fmt.Sprintf("cold: 1 MGET + 1 SELECT + 1 pipeline: 2 Redis round trips, per request (%d runs)", cold.n), "most reads: "+cold.desc, verdict(cold.ok))
	}
}
