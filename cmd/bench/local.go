package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"

	"github.com/headline/headline/store/localcache"
	"github.com/headline/headline/store/rediscache"
)

// headline's local tier: an in-process cache in front of Redis, sized by
// LOCAL_CACHE_SIZE (default localcache.DefaultMaxBytes, 64 MiB), entries
// dropped LOCAL_CACHE_MAX_AGE (default localcache.DefaultMaxAge, 1m) after
// their fill. bench reads what it does from GET /metrics;
// a build without the tier has none of these series, and bench then shows
// "—" for them.
const (
	metricLookups   = "headline_local_cache_lookups_total" // {result="hit"|"miss"}
	metricBytes     = "headline_local_cache_bytes"
	metricEntries   = "headline_local_cache_entries"
	metricUsable    = "headline_local_cache_usable"
	metricHeapAlloc = "go_memstats_heap_alloc_bytes"

	// maxSweep is about what asking headline for 100,000 profiles takes
	// on a 2-core machine (1–2 s), with room.
	maxSweep = 5 * time.Second
	// sweepBatch is MAX_IDS's default, graph.DefaultOptions.MaxIDs: the
	// most ids one users(ids:) takes. Not imported, which would link the
	// GraphQL layer into bench for one number.
	sweepBatch = 100
	sweepConc  = 4
)

// localEnv are the settings bench passes on from its own environment to
// the headline it starts, so that a run can size the tier, or set the
// collector, differently.
var localEnv = []string{"LOCAL_CACHE_SIZE", "LOCAL_CACHE_MAX_AGE", "GOGC", "GOMEMLIMIT"}

// promSample is one scrape of headline's /metrics, by metric name.
type promSample map[string]*dto.MetricFamily

// parsePromText reads the Prometheus text exposition format (what promhttp
// serves).
func parsePromText(r io.Reader) (promSample, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(r)
}

// get is the value of name's series whose labels include the given name,
// value pairs: a counter's, a gauge's or an untyped one's.
func (p promSample) get(name string, labels ...string) (float64, bool) {
next:
	for _, m := range p[name].GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
				return l.GetName() == labels[i] && l.GetValue() == labels[i+1]
			}) {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// localTier is what one scrape says of headline's local tier.
type localTier struct {
	present        bool // the build has a tier: its lookup counters are there
	hits, misses   float64
	bytes, entries float64
	usable         bool
	heapAlloc      float64 // the Go heap, 0 when not served
}

func localFrom(p promSample) localTier {
	var t localTier
	var okHit, okMiss bool
	t.hits, okHit = p.get(metricLookups, "result", "hit")
	t.misses, okMiss = p.get(metricLookups, "result", "miss")
	t.present = okHit && okMiss
	t.bytes, _ = p.get(metricBytes)
	t.entries, _ = p.get(metricEntries)
	u, _ := p.get(metricUsable)
	t.usable = u == 1
	t.heapAlloc, _ = p.get(metricHeapAlloc)
	return t
}

// localDelta is the tier's lookups during one run.
type localDelta struct {
	present      bool
	hits, misses int64
}

func localBetween(before, after localTier) localDelta {
	if !before.present || !after.present {
		return localDelta{}
	}
	return localDelta{present: true, hits: int64(after.hits - before.hits), misses: int64(after.misses - before.misses)}
}

// counts is the cell "local hits / misses".
func (d localDelta) counts() string {
	if !d.present {
		return "—"
	}
	return fmt.Sprintf("%d / %d", d.hits, d.misses)
}

// hitPct is hitRate with its unit, for sentences.
func (d localDelta) hitPct() string {
	if r := d.hitRate(); r != "—" {
		return r + "%"
	}
	return "—"
}

// hitRate is the cell "local hit %": Δhit/(Δhit+Δmiss), "—" without a
// tier or without lookups.
func (d localDelta) hitRate() string {
	if !d.present || d.hits+d.misses <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f", 100*float64(d.hits)/float64(d.hits+d.misses))
}

// scrapeLocal reads headline's /metrics; Flask has none, and a headline
// whose metrics are off (METRICS=false) reads as one without a tier.
func scrapeLocal(ctx context.Context, srv *process) localTier {
	if srv.name != "headline" {
		return localTier{}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.base+"/metrics", nil)
	if err != nil {
		return localTier{}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return localTier{}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return localTier{}
	}
	p, err := parsePromText(resp.Body)
	if err != nil {
		return localTier{}
	}
	return localFrom(p)
}

// sweep asks headline for every id, sweepBatch to a users(ids:), sweepConc
// requests at a time, so that its local tier holds them all.
func sweep(ctx context.Context, srv *process, ids []int) error {
	batches := make(chan []int)
	errs := make(chan error, sweepConc)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: sweepConc}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for range sweepConc {
		wg.Go(func() {
			for batch := range batches {
				if err := sweepOne(ctx, client, srv, batch); err != nil {
					errs <- err
					for range batches { // drain, so the sender ends
					}
					return
				}
			}
		})
	}
	for b := range slices.Chunk(ids, sweepBatch) {
		if ctx.Err() != nil {
			break
		}
		batches <- b
	}
	close(batches)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

func sweepOne(ctx context.Context, client *http.Client, srv *process, ids []int) error {
	body := graphqlBody(usersQuery, `{"ids":[`+joinIDs(ids, ",", `"`)+`]}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.base+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"errors"`)) {
		return fmt.Errorf("users(ids:) of %d ids: %s %s", len(ids), resp.Status, tail(out, 300))
	}
	return nil
}

func idRange(lo, hi int) []int {
	ids := make([]int, 0, hi-lo+1)
	for id := lo; id <= hi; id++ {
		ids = append(ids, id)
	}
	return ids
}

// parseSize reads LOCAL_CACHE_SIZE as the server does (settings.Int): a
// whole number of bytes ≥ 0, without a unit.
func parseSize(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a whole number ≥ 0, got %q", s)
	}
	return n, nil
}

// parseVmRSS reads the resident set size, in bytes, from the text of
// /proc/<pid>/status. Not process_resident_memory_bytes from the /metrics
// scrape: the process collector reads /proc/self/stat's rss, whose
// per-CPU parts the kernel does not fold in (on Linux 6.18 with 2 CPUs it
// was up to about 240 KiB under VmRSS, more with more CPUs), while VmRSS
// sums them.
func parseVmRSS(status string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		v, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS: %q", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS: %w", err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("no VmRSS line")
}

func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(string(b))
}

func mib(n float64) string { return fmt.Sprintf("%.1f MiB", n/(1<<20)) }

// localSettings passes localEnv's settings (LOCAL_CACHE_*, GOGC,
// GOMEMLIMIT) on from bench's environment to headline, and reads the
// tier's bound from it: -1 when it cannot be read.
func (b *bench) localSettings(getenv func(string) string) {
	for _, k := range localEnv {
		if v := getenv(k); v != "" {
			b.hlEnv = append(b.hlEnv, k+"="+v)
		}
	}
	b.localBound = localcache.DefaultMaxBytes
	if v := getenv("LOCAL_CACHE_SIZE"); v != "" {
		n, err := parseSize(v)
		if err != nil {
			b.note("LOCAL_CACHE_SIZE=%s: %v; the memory bound is not checked", v, err)
			n = -1
		}
		b.localBound = n
	}
	// The tier drops an entry LOCAL_CACHE_MAX_AGE after its fill, hit or
	// not: a run must end within it of the sweep before it to be local.
	maxAge := localcache.DefaultMaxAge
	if v := getenv("LOCAL_CACHE_MAX_AGE"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			maxAge = d
		}
	}
	if b.o.duration+maxSweep > maxAge {
		b.note("runs of %s (after a sweep of up to %s) outlast LOCAL_CACHE_MAX_AGE %s: the local tier refills from Redis during them", b.o.duration, maxSweep, maxAge)
	}
}

// memPoint is a headline's memory at one moment of the session.
type memPoint struct {
	when string
	kind memKind
	rss  int64 // 0 when /proc could not be read
	tier localTier
}

type memKind int

const (
	memMain   memKind = iota // the headline measured
	memTwin                  // a fresh one as configured, every profile asked for
	memNoTier                // a fresh one with LOCAL_CACHE_SIZE=0, the same requests
)

// memory records and prints the RSS of hl and its tier's size now.
func (b *bench) memory(ctx context.Context, hl *process, kind memKind, when string) {
	p := memPoint{when: when, kind: kind, tier: scrapeLocal(ctx, hl)}
	var err error
	if p.rss, err = readRSS(hl.pids()[0]); err != nil {
		b.note("headline's RSS %s: %v", when, err)
	}
	b.mem = append(b.mem, p)
	fmt.Fprintf(b.out, "headline %s: RSS %s, Go heap %s, local tier %s\n", when, mib(float64(p.rss)),
		mibOrDash(p.tier.heapAlloc), tierCell(p.tier))
}

func mibOrDash(n float64) string {
	if n <= 0 {
		return "—"
	}
	return mib(n)
}

// tierCell is "12.3 MiB in 25000 entries, usable", or "—" without a tier.
func tierCell(t localTier) string {
	if !t.present {
		return "—"
	}
	s := fmt.Sprintf("%s in %.0f entries", mib(t.bytes), t.entries)
	if !t.usable {
		s += ", not usable"
	}
	return s
}

// fillLocal asks headline for the ids the scenario reads, so that its run
// measures a tier that holds them all rather than one filling from Redis
// during its first seconds.
func (b *bench) fillLocal(ctx context.Context, sc scenario, srv *process) error {
	if srv.name != "headline" || !b.tier || !b.o.localWarmup || sc.local == nil {
		return nil
	}
	t := time.Now()
	ids := sc.local(b.o.users)
	if err := touch(ctx, b.rdb, ids); err != nil {
		return fmt.Errorf("make the local tier drop what it holds: %w", err)
	}
	if err := sweep(ctx, srv, ids); err != nil {
		return fmt.Errorf("fill the local tier: %w", err)
	}
	fmt.Fprintf(b.out, "  (local tier filled: %d ids in %.1fs)\n", len(ids), time.Since(t).Seconds())
	return nil
}

// touch re-sets each id's cache entry's TTL to what it was, a write that
// Redis's tracking announces, so that headline's tier drops the entry and
// the sweep after fills it anew. Without it an entry filled for an earlier
// run keeps its age, and expires (LOCAL_CACHE_MAX_AGE after its fill)
// during a later run, which then measures the tier refilling from Redis.
func touch(ctx context.Context, rdb *redis.Client, ids []int) error {
	for chunk := range slices.Chunk(ids, 10000) {
		ttls := make([]*redis.DurationCmd, len(chunk))
		if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range chunk {
				ttls[i] = p.PTTL(ctx, rediscache.ProfileKey(int64(id)))
			}
			return nil
		}); err != nil {
			return err
		}
		if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range chunk {
				if d := ttls[i].Val(); d > 0 {
					p.PExpire(ctx, rediscache.ProfileKey(int64(id)), d)
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	// The invalidations travel on headline's own connection: let the
	// last of them land before the sweep asks for those ids.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(200 * time.Millisecond):
		return nil
	}
}

// allLocal asks the measured headline for every user and records its
// memory; then twins compares two fresh ones.
func (b *bench) allLocal(ctx context.Context) error {
	if err := prepWarm(ctx, b, nil); err != nil {
		return err
	}
	t := time.Now()
	if err := sweep(ctx, b.servers[0], idRange(1, b.o.users)); err != nil {
		return fmt.Errorf("ask headline for every profile: %w", err)
	}
	b.memory(ctx, b.servers[0], memMain, fmt.Sprintf("after all %d profiles were asked for (%.1fs)", b.o.users, time.Since(t).Seconds()))
	return b.twins(ctx)
}

// twins starts two fresh headlines in turn, one as configured and one with
// LOCAL_CACHE_SIZE=0, asks each for every profile twice (the second time
// all from a full tier), and records their RSS. The one without a tier is
// "the runtime's own" for the same requests; the difference is what the
// tier costs, the garbage collector's headroom over a larger live heap
// included. The measured headline's own figures include the scenarios'
// load, which the tier is not the cause of.
func (b *bench) twins(ctx context.Context) error {
	for i, tw := range []struct {
		kind memKind
		when string
		env  []string
	}{
		{memTwin, "fresh, as configured", b.hlEnv},
		{memNoTier, "fresh, LOCAL_CACHE_SIZE=0", append(slices.Clone(b.hlEnv), "LOCAL_CACHE_SIZE=0")}, // the last value counts
	} {
		dir := filepath.Join(b.tmp, "twin"+strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		hl, err := b.startHL(ctx, dir, tw.env)
		if err != nil {
			return fmt.Errorf("headline %s: %w", tw.when, err)
		}
		waitUsable(ctx, hl)
		for range 2 {
			if err = sweep(ctx, hl, idRange(1, b.o.users)); err != nil {
				break
			}
		}
		if err == nil {
			b.memory(ctx, hl, tw.kind, fmt.Sprintf("%s, all %d profiles asked for twice", tw.when, b.o.users))
		}
		hl.stop()
		if err != nil {
			return fmt.Errorf("headline %s: %w", tw.when, err)
		}
	}
	return nil
}

// waitUsable waits, at most 5 s, for a fresh headline's tier to be usable
// (its tracking connection up): until then it caches nothing.
func waitUsable(ctx context.Context, hl *process) {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if t := scrapeLocal(ctx, hl); !t.present || t.usable {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}
