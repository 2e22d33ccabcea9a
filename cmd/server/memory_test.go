package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
)

// liveHeap is the heap in use once garbage is collected.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// sendLargeQueries posts n distinct valid queries of about 1 MiB each (a
// small query padded with a comment, as the body limit allows) and returns
// how much the live heap grew.
func sendLargeQueries(t *testing.T, s *testServer, n int) (grown int64) {
	t.Helper()
	pad := strings.Repeat("x", int(s.cfg.MaxBodyBytes)-200)
	small := func(i int) []byte {
		b, _ := json.Marshal(map[string]string{"query": fmt.Sprintf("query Warm%d { __typename }", i)})
		return b
	}
	post := func(body []byte) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if r := do(t, req); r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("status %d: %.300s", r.Status, r.Raw)
		}
	}
	// Warm up what every server builds once (pools, the schema's caches).
	for i := range 10 {
		post(small(i))
	}
	before := liveHeap()
	for i := range n {
		body, _ := json.Marshal(map[string]string{"query": fmt.Sprintf("# %d %s\n{ __typename }", i, pad)})
		post(body)
	}
	return int64(liveHeap()) - int64(before)
}

// TestDistinctLargeQueriesDoNotGrowTheHeap: 100 distinct queries of 1 MiB
// leave the live heap less than 32 MiB larger. The document cache used to
// keep each whole (~110 MB for 100; ~1.1 GB at its 1,000 entries); now a
// document over 1/64 of QUERY_CACHE_BYTES is not kept, and the cache's
// bytes are bounded.
func TestDistinctLargeQueriesDoNotGrowTheHeap(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.LogRequests = false })
	grown := sendLargeQueries(t, s, 100)
	t.Logf("live heap grew by %.1f MiB after 100 distinct 1 MiB queries", float64(grown)/(1<<20))
	if grown >= 32<<20 {
		t.Errorf("live heap grew by %.1f MiB after 100 distinct 1 MiB queries, want less than 32 MiB", float64(grown)/(1<<20))
	}
}

// TestMeasureLiveHeapAfter1000LargeQueries logs the live heap after 1,000
// distinct 1 MiB queries, the figure the operations notes cite. It takes
// a while, so it runs only with HEADLINE_MEASURE_HEAP=1:
//
//	HEADLINE_MEASURE_HEAP=1 go test -count=1 -v -run TestMeasureLiveHeapAfter1000LargeQueries ./cmd/server
func TestMeasureLiveHeapAfter1000LargeQueries(t *testing.T) {
	if os.Getenv("HEADLINE_MEASURE_HEAP") == "" {
		t.Skip("a measurement: set HEADLINE_MEASURE_HEAP=1 to run it")
	}
	s := newTestServer(t, func(c *Config) { c.LogRequests = false })
	base := liveHeap()
	grown := sendLargeQueries(t, s, 1000)
	t.Logf("live heap: %.1f MiB with the server set up, %.1f MiB after 1,000 distinct 1 MiB queries (+%.1f MiB)",
		float64(base)/(1<<20), float64(int64(base)+grown)/(1<<20), float64(grown)/(1<<20))
}
