package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/headline/headline/cmd/server/internal/servertest"
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
// the live heap before and after them.
func sendLargeQueries(t *testing.T, s *testServer, n int) (before, after uint64) {
	t.Helper()
	pad := strings.Repeat("x", int(s.cfg.API.MaxBodyBytes)-200)
	small := func(i int) []byte {
		b, _ := json.Marshal(map[string]string{"query": fmt.Sprintf("query Warm%d { __typename }", i)})
		return b
	}
	post := func(body []byte) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if r := servertest.Do(t, req); r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("status %d: %.300s", r.Status, r.Raw)
		}
	}
	// Warm up what every server builds once (pools, the schema's caches).
	for i := range 10 {
		post(small(i))
	}
	before = liveHeap()
	for i := range n {
		body, _ := json.Marshal(map[string]string{"query": fmt.Sprintf("# %d %s\n{ __typename }", i, pad)})
		post(body)
	}
	after = liveHeap()
	runtime.KeepAlive(pad) // counted in before: keep it in after too
	return before, after
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// TestDistinctLargeQueriesDoNotGrowTheHeap: 100 distinct queries of 1 MiB
// leave the live heap less than 32 MiB larger. The document cache used to
// keep each whole (~110 MB for 100; ~1.1 GB at its 1,000 entries); now a
// document over 1/64 of QUERY_CACHE_BYTES is not kept, and the cache's
// bytes are bounded.
func TestDistinctLargeQueriesDoNotGrowTheHeap(t *testing.T) {
	s := newTestServer(t, func(c *testConfig) { c.LogRequests = false })
	before, after := sendLargeQueries(t, s, 100)
	t.Logf("live heap %.1f MiB before, %.1f MiB after 100 distinct 1 MiB queries", mib(before), mib(after))
	if after > before && after-before >= 32<<20 {
		t.Errorf("live heap grew from %.1f to %.1f MiB after 100 distinct 1 MiB queries, want less than 32 MiB more", mib(before), mib(after))
	}
}

// TestMeasureLiveHeapAfter1000LargeQueries logs the live heap after 1,000
// distinct 1 MiB queries, and after 1,000 distinct documents the cache
// keeps, the figures the operations notes cite. It takes a while, so it
// runs only with HEADLINE_MEASURE_HEAP=1:
//
//	HEADLINE_MEASURE_HEAP=1 go test -count=1 -v -run TestMeasureLiveHeapAfter1000LargeQueries ./cmd/server/internal/api
func TestMeasureLiveHeapAfter1000LargeQueries(t *testing.T) {
	if os.Getenv("HEADLINE_MEASURE_HEAP") == "" {
		t.Skip("a measurement: set HEADLINE_MEASURE_HEAP=1 to run it")
	}
	s := newTestServer(t, func(c *testConfig) { c.LogRequests = false })
	before, after := sendLargeQueries(t, s, 1000)
	t.Logf("live heap: %.1f MiB with the server warmed up, %.1f MiB after 1,000 distinct 1 MiB queries", mib(before), mib(after))

	// Documents the cache keeps, at ~212 KB charged each: it holds what
	// QUERY_CACHE_BYTES allows. MAX_ALIASES 1 refuses them after they
	// were parsed, validated and cached, so none looks anything up.
	s = newTestServer(t, func(c *testConfig) { c.LogRequests, c.GraphQL.MaxAliases = false, 1 })
	before = liveHeap()
	for i := range 1000 {
		var q strings.Builder
		for j := range 100 {
			fmt.Fprintf(&q, " u%d: user(id: \"%d\") { id name photo intro certi }", j, i*1000+j)
		}
		if r := s.Post(t, "{"+q.String()+" }", nil); len(r.Errors) != 1 || r.Errors[0].Extensions["limit"] != "aliases" {
			t.Fatalf("want the aliases limit: %.300s", r.Raw)
		}
	}
	after = liveHeap()
	t.Logf("live heap: %.1f MiB with the server set up, %.1f MiB after 1,000 distinct documents of 100 aliased fields (QUERY_CACHE_BYTES %d MiB)",
		mib(before), mib(after), s.cfg.GraphQL.QueryCacheBytes>>20)
}
