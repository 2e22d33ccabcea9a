package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// metricsText is what promhttp serves, with the local tier's series as
// headline will have them.
const metricsText = `# HELP headline_local_cache_lookups_total Lookups in the local tier.
# TYPE headline_local_cache_lookups_total counter
headline_local_cache_lookups_total{result="hit"} 9000
headline_local_cache_lookups_total{result="miss"} 1000
# HELP headline_local_cache_bytes Bytes the local tier holds.
# TYPE headline_local_cache_bytes gauge
headline_local_cache_bytes 5.15e+07
headline_local_cache_entries 100000
headline_local_cache_usable 1
headline_local_cache_evictions_total 0
go_memstats_heap_alloc_bytes 6.2e+07
headline_build_info{goversion="go1.26",modified="false",revision="abc",vcs_time="",version="(devel)"} 1
headline_graphql_request_duration_seconds_bucket{operation="a \"b\", {c}",outcome="ok",le="+Inf"} 12 1700000000000
`

// get finds a series by some of its labels, whatever its type.
func TestPromSampleGet(t *testing.T) {
	p, err := parsePromText(strings.NewReader(metricsText))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{metricLookups, []string{"result", "hit"}, 9000},        // counter
		{metricLookups, []string{"result", "miss"}, 1000},       // counter
		{metricBytes, nil, 5.15e7},                              // gauge
		{metricEntries, nil, 100000},                            // untyped
		{"headline_build_info", []string{"revision", "abc"}, 1}, // some of its labels
	} {
		if got, ok := p.get(c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s %v: got %v, %v; want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if _, ok := p.get(metricLookups, "result", "negative"); ok {
		t.Error("a series that is not there was found")
	}
	if _, ok := p.get("not_served"); ok {
		t.Error("a metric that is not there was found")
	}
}

func TestLocalFrom(t *testing.T) {
	p, err := parsePromText(strings.NewReader(metricsText))
	if err != nil {
		t.Fatal(err)
	}
	got := localFrom(p)
	want := localTier{present: true, hits: 9000, misses: 1000, bytes: 5.15e7, entries: 100000, usable: true, heapAlloc: 6.2e7}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if cell := tierCell(got); cell != "49.1 MiB in 100000 entries" {
		t.Errorf("tier cell %q", cell)
	}
	got.usable = false
	if cell := tierCell(got); cell != "49.1 MiB in 100000 entries, not usable" {
		t.Errorf("tier cell %q", cell)
	}
	// Today's headline: no tier, so none of its series.
	p, _ = parsePromText(strings.NewReader("go_memstats_heap_alloc_bytes 100\nheadline_cache_requests_total{result=\"hit\"} 5\n"))
	if got := localFrom(p); got.present || tierCell(got) != "—" || got.heapAlloc != 100 {
		t.Fatalf("without a tier: %+v", got)
	}
}

func TestLocalHitRate(t *testing.T) {
	before := localTier{present: true, hits: 100, misses: 50}
	for _, c := range []struct {
		name                  string
		before, after         localTier
		rate, pct, countsCell string
	}{
		{"lookups during the run only", before, localTier{present: true, hits: 1090, misses: 60}, "99.0", "99.0%", "990 / 10"},
		{"every lookup a miss", before, localTier{present: true, hits: 100, misses: 150}, "0.0", "0.0%", "0 / 100"},
		{"no lookups", before, before, "—", "—", "0 / 0"},
		{"no tier", localTier{}, localTier{}, "—", "—", "—"},
		{"tier gone at the end", before, localTier{}, "—", "—", "—"},
	} {
		d := localBetween(c.before, c.after)
		if d.hitRate() != c.rate || d.hitPct() != c.pct || d.counts() != c.countsCell {
			t.Errorf("%s: rate %q pct %q counts %q", c.name, d.hitRate(), d.hitPct(), d.counts())
		}
	}
}

// scrapeLocal reads a server's /metrics; what is not headline's, or does
// not answer, has no tier.
func TestScrapeLocal(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			_, _ = io.WriteString(w, metricsText)
		default:
			http.NotFound(w, r)
		}
	}))
	defer ts.Close()
	ctx := context.Background()
	if got := scrapeLocal(ctx, &process{name: "headline", base: ts.URL}); !got.present || got.hits != 9000 || got.entries != 100000 {
		t.Fatalf("headline: %+v", got)
	}
	if got := scrapeLocal(ctx, &process{name: "Flask", base: ts.URL}); got.present {
		t.Fatalf("Flask: %+v", got)
	}
	if got := scrapeLocal(ctx, &process{name: "headline", base: ts.URL + "/off"}); got.present {
		t.Fatalf("metrics off: %+v", got)
	}
}

// sweep asks for every id once, at most sweepBatch a request, and fails
// when headline answers with errors.
func TestSweep(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]int{}
	biggest := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Query     string
			Variables struct{ IDs []string }
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Query != usersQuery || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		biggest = max(biggest, len(body.Variables.IDs))
		for _, s := range body.Variables.IDs {
			id, _ := strconv.Atoi(s)
			seen[id]++
			if id == 666 {
				_, _ = io.WriteString(w, `{"errors":[{"message":"no"}],"data":null}`)
				return
			}
		}
		_, _ = io.WriteString(w, `{"data":{"users":[]}}`)
	}))
	defer ts.Close()
	srv := &process{name: "headline", base: ts.URL}
	if err := sweep(context.Background(), srv, idRange(1, 250)); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 250 || biggest != sweepBatch {
		t.Fatalf("%d ids asked for, biggest batch %d", len(seen), biggest)
	}
	for id, n := range seen {
		if n != 1 || id < 1 || id > 250 {
			t.Fatalf("id %d asked for %d times", id, n)
		}
	}
	if err := sweep(context.Background(), srv, idRange(601, 1000)); err == nil || !strings.Contains(err.Error(), "errors") {
		t.Fatalf("an answer with errors: %v", err)
	}
}

// LOCAL_CACHE_SIZE is a plain number of bytes, as the server reads it.
func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"67108864": 64 << 20, "0": 0, "100": 100} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("%q: got %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "64MiB", "64 MiB", "1GiB", "64MB", "100B", "-1", "1.5", " 64"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\theadline\nVmPeak:\t  900000 kB\nVmRSS:\t   48312 kB\nRssAnon:\t   30000 kB\n"
	if got, err := parseVmRSS(status); err != nil || got != 48312<<10 {
		t.Fatalf("got %d, %v", got, err)
	}
	if _, err := parseVmRSS("Name:\tx\n"); err == nil {
		t.Fatal("want an error without VmRSS")
	}
}

// localEnv's settings reach headline; LOCAL_CACHE_SIZE sets the bound bench
// checks against.
func TestLocalSettings(t *testing.T) {
	for _, c := range []struct {
		env   map[string]string
		bound int64
		pass  []string
		note  string
	}{
		{map[string]string{}, 64 << 20, nil, ""},
		{map[string]string{"LOCAL_CACHE_SIZE": "16777216", "LOCAL_CACHE_MAX_AGE": "5m"}, 16 << 20, []string{"LOCAL_CACHE_SIZE=16777216", "LOCAL_CACHE_MAX_AGE=5m"}, ""},
		{map[string]string{"LOCAL_CACHE_SIZE": "16MiB"}, -1, []string{"LOCAL_CACHE_SIZE=16MiB"}, "the memory bound is not checked"},
		{map[string]string{"LOCAL_CACHE_SIZE": "lots"}, -1, []string{"LOCAL_CACHE_SIZE=lots"}, "the memory bound is not checked"},
		{map[string]string{"LOCAL_CACHE_MAX_AGE": "8s"}, 64 << 20, []string{"LOCAL_CACHE_MAX_AGE=8s"}, "outlast LOCAL_CACHE_MAX_AGE 8s"},
		{map[string]string{"GOGC": "200", "GOMEMLIMIT": "1GiB", "PATH": "/bin"}, 64 << 20, []string{"GOGC=200", "GOMEMLIMIT=1GiB"}, ""},
	} {
		b := &bench{o: &options{duration: 5 * time.Second}}
		b.localSettings(func(k string) string { return c.env[k] })
		notes := strings.Join(b.notes, "\n")
		if b.localBound != c.bound || !slices.Equal(b.hlEnv, c.pass) || !strings.Contains(notes, c.note) || (c.note == "") != (notes == "") {
			t.Errorf("%v: bound %d, env %q, notes %q", c.env, b.localBound, b.hlEnv, notes)
		}
	}
}

// Every hot-key request asks for the same 20 users, in the same order, to
// both servers.
func TestHotIDs(t *testing.T) {
	ids := hotIDs(100000)
	if len(ids) != feedSize || ids[0] != 5000 || ids[feedSize-1] != 100000 {
		t.Fatalf("hot ids %v", ids)
	}
	if small := hotIDs(feedSize); !slices.Equal(small, idRange(1, feedSize)) {
		t.Fatalf("hot ids of %d users: %v", feedSize, small)
	}
	src := fixedIDs(ids)
	want := "http://f/v1_0/authors?ids=" + joinIDs(ids, ",", "")
	fl := targeter(&process{name: "Flask", base: "http://f"}, kindFeed, src, "")
	hl := targeter(&process{name: "headline", base: "http://h"}, kindFeed, src, "")
	for range 3 {
		var tg vegeta.Target
		if err := fl(&tg); err != nil || tg.URL != want {
			t.Fatalf("Flask: %s, %v", tg.URL, err)
		}
		if err := hl(&tg); err != nil || !strings.Contains(string(tg.Body), `{"ids":[`+joinIDs(ids, ",", `"`)+`]}`) {
			t.Fatalf("headline: %s, %v", tg.Body, err)
		}
	}
	for range 50 {
		if one, ok := src.take(1); !ok || len(one) != 1 || !slices.Contains(ids, one[0]) {
			t.Fatalf("one id from the hot set: %v", one)
		}
	}
}
