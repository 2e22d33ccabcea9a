package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store"
	"github.com/headline/headline/store/localcache"
	"github.com/headline/headline/store/storetest"
)

// benchServer is newTestServer, whose log takes a line per request, as in
// production with LOG_REQUESTS on. (The LOG_LEVEL=error it once set was
// never read by the handler, so the lines were always written.)
func benchServer(b *testing.B, adjust ...func(*testConfig)) *testServer {
	b.Helper()
	return newTestServer(b, adjust...)
}

// BenchmarkWarmUsers50 is a feed page: users(ids:) with 50 warm authors,
// through the whole HTTP handler (no network), on this package's Redis.
func BenchmarkWarmUsers50(b *testing.B) { benchWarmUsers50(b, benchServer(b)) }

// BenchmarkWarmUsers50GET is BenchmarkWarmUsers50 by GET, whose answer is
// cacheable: the cost of its cache policy, Cache-Control and ETag.
func BenchmarkWarmUsers50GET(b *testing.B) { benchWarmUsers50By(b, benchServer(b), http.MethodGet) }

// BenchmarkWarmUsers50Local is BenchmarkWarmUsers50 with the local tier
// on, tracked on a redis-server of its own (tracking is server-wide), the
// authors local: the lookups make no round trip.
func BenchmarkWarmUsers50Local(b *testing.B) {
	srv := storetest.StartRedisServer(b)
	tier, err := store.NewLocalTier(localcache.DefaultMaxBytes, localcache.DefaultMaxAge)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tier.Close)
	tr, err := localcache.NewTracker(tier, localcache.TrackerOptions{Redis: &redis.UniversalOptions{Addrs: []string{srv.Addr}},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tr.Close() })
	for deadline := time.Now().Add(10 * time.Second); !tier.Usable(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the tier not usable after 10s")
		}
	}
	s := newTestServerOnRedis(b, &redis.Options{Addr: srv.Addr}, func(c *testConfig) { c.Local = tier })
	benchWarmUsers50(b, s)
}

// BenchmarkWarmUsers50Traced is BenchmarkWarmUsers50 with tracing on, its
// spans batched as in production to an exporter that drops them: the cost
// of making spans, not of sending them.
func BenchmarkWarmUsers50Traced(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	s := benchServer(b, func(c *testConfig) { c.Tracer = tp })
	benchWarmUsers50(b, s)
}

// benchFirstID is the first of the benchmarks' users. Unlike the tests'
// ids it is fixed: requests and answers carry the ids, so the figures of
// two commits compare only if the ids have the same digits. It lies far
// below storetest.IDs' blocks, and ReplaceUsers makes a run under -count
// start afresh.
const benchFirstID = 6000

func benchWarmUsers50(b *testing.B, s *testServer) { benchWarmUsers50By(b, s, http.MethodPost) }

func benchWarmUsers50By(b *testing.B, s *testServer, method string) {
	first := int64(benchFirstID)
	s.ReplaceUsers(b, servertest.SeqUsers(first, 50)...)
	ids := make([]int64, 50)
	for i := range ids {
		ids[i] = first + int64(i)
	}
	query := fmt.Sprintf(`{ users(ids: %s) { id name photo intro certi } }`, servertest.IDList(ids))
	body := fmt.Sprintf(`{"query":%q}`, query)
	serve := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if method == http.MethodGet {
			req = httptest.NewRequest(http.MethodGet, "/graphql?"+url.Values{"query": {query}}.Encode(), nil)
		}
		w := httptest.NewRecorder()
		s.Handler.ServeHTTP(w, req)
		return w
	}
	if w := serve(); w.Code != 200 || strings.Contains(w.Body.String(), "errors") {
		b.Fatalf("warm-up: %d %s", w.Code, w.Body)
	}
	// With a local tier, until every author is local: the first read from
	// Redis fills it, unless the invalidation of the cold load's own fill
	// comes back during that read.
	for i := 0; s.cfg.Local != nil; i++ {
		s.ResetCounts()
		serve()
		if s.RC.RoundTrips() == 0 {
			break
		}
		if i == 100 {
			b.Fatalf("authors not local after 100 requests (%s)", s.RC)
		}
		time.Sleep(time.Millisecond)
	}
	s.ResetCounts()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		serve()
	}
	b.StopTimer()
	b.ReportMetric(float64(s.RC.RoundTrips())/float64(b.N), "redis-rt/op")
	b.ReportMetric(float64(s.SQL.Count("SELECT"))/float64(b.N), "selects/op")
}

// BenchmarkWarmUserLatency sends warm user(id:) requests one at a time over
// loopback HTTP with keep-alive, as a client at concurrency 1 would, and
// reports the median and 99th percentile.
func BenchmarkWarmUserLatency(b *testing.B) {
	s := benchServer(b)
	id := int64(benchFirstID + 100)
	s.ReplaceUsers(b, servertest.SeqUsers(id, 1)...)
	body := fmt.Sprintf(`{"query":"{ user(id: \"%d\") { id name photo intro certi } }"}`, id)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	send := func() {
		resp, err := client.Post(s.URL+"/graphql", "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	send()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		send()
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
