package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

func TestMetrics(t *testing.T) {
	s := newTestServer(t)
	id := storetest.IDs(t, 4) // id..id+2 exist; id+3 does not
	s.AddUsers(t, servertest.SeqUsers(id, 3)...)
	feed := fmt.Sprintf(`query Feed { users(ids: ["%d", "%d", "%d", "%d"]) { id name } }`, id, id+1, id+2, id+3)
	s.ResetCounts()

	mustOK := func(t *testing.T, r servertest.Response) {
		t.Helper()
		if len(r.Errors) > 0 {
			t.Fatalf("errors: %s", r.Raw)
		}
	}
	// 1. Cold: one batch of 4 keys, all absent from the cache, one SELECT.
	mustOK(t, s.Post(t, feed, nil))
	// 2. Warm: 3 profiles and the "-1" of id+3.
	mustOK(t, s.Post(t, feed, nil))
	// 3. A value of another shape for id+1: loaded again, one more SELECT.
	if err := s.Redis.Raw.Set(context.Background(), rediscache.ProfileKey(id+1), `{"name": 42}`, 0).Err(); err != nil {
		t.Fatal(err)
	}
	mustOK(t, s.Post(t, feed, nil))
	// 4. Unnamed: one batch of 1 key, a hit.
	mustOK(t, s.Post(t, fmt.Sprintf(`{ user(id: "%d") { id } }`, id+2), nil))
	// 5. A bad id: refused before any loader, Redis or SQL work.
	if r := s.Post(t, `query BadID { user(id: "abc") { id } }`, nil); r.Code("user") != "BAD_USER_INPUT" {
		t.Fatalf("bad id: want BAD_USER_INPUT, got %s", r.Raw)
	}
	selects := s.SQL.Count("SELECT")
	if selects != 2 {
		t.Fatalf("SELECTs = %d, want 2: %q", selects, s.SQL.Queries())
	}

	m := servertest.ScrapeMetrics(t, s.URL)

	c := &metricsScrape{s: s, m: m, selects: selects}
	t.Run("cache lookups by result", c.cacheLookups)
	t.Run("no Redis errors and the breaker closed", c.redisErrors)
	t.Run("batch histogram: one observation per batch, the keys summed", c.batches)
	t.Run("SQL histogram counts the SELECTs", c.sql)
	t.Run("GraphQL durations by operation name and outcome", c.graphQL)
	t.Run("pool, runtime and process collectors", c.collectors)
}

// metricsScrape is what TestMetrics scraped after its requests, and the SELECTs they ran.
type metricsScrape struct {
	s       *testServer
	m       servertest.Scrape
	selects int
}

func (c *metricsScrape) cacheLookups(t *testing.T) {
	m := c.m
	for result, want := range map[string]float64{"hit": 3 + 2 + 1, "miss": 4, "negative": 1 + 1, "corrupt": 1} {
		if got := m.Value(t, "headline_cache_requests_total", "result", result); got != want {
			t.Errorf("headline_cache_requests_total{result=%q} = %v, want %v", result, got, want)
		}
	}
}

func (c *metricsScrape) redisErrors(t *testing.T) {
	m := c.m
	for _, op := range []string{"read", "lease", "fill", "invalidate", "apq"} {
		if got := m.Value(t, "headline_redis_errors_total", "op", op); got != 0 {
			t.Errorf("headline_redis_errors_total{op=%q} = %v, want 0", op, got)
		}
	}
	if got := m.Value(t, "headline_redis_breaker_state"); got != 0 {
		t.Errorf("headline_redis_breaker_state = %v, want 0 (closed)", got)
	}
	// One node: one breaker for the profile cache, and none yet for
	// persisted queries, which no request used.
	if got := m.Value(t, "headline_redis_node_breaker_state", "breaker", "cache", "node", "all"); got != 0 {
		t.Errorf(`headline_redis_node_breaker_state{breaker="cache",node="all"} = %v, want 0 (closed)`, got)
	}
	if n := len(m["headline_redis_node_breaker_state"].GetMetric()); n != 1 {
		t.Errorf("%d series of headline_redis_node_breaker_state, want 1", n)
	}
}

func (c *metricsScrape) batches(t *testing.T) {
	m := c.m
	h := m.Histogram(t, "headline_loader_batch_keys")
	if got, want := h.GetSampleCount(), uint64(4); got != want {
		t.Errorf("batches = %d, want %d", got, want)
	}
	if got, want := h.GetSampleSum(), float64(4+4+4+1); got != want {
		t.Errorf("keys = %v, want %v", got, want)
	}
}

func (c *metricsScrape) sql(t *testing.T) {
	m, selects := c.m, c.selects
	h := m.Histogram(t, "headline_sql_duration_seconds", "op", "select_users")
	if got := h.GetSampleCount(); got != uint64(selects) {
		t.Errorf("select_users observations = %d, want %d (the SELECTs run)", got, selects)
	}
	if h.GetSampleSum() <= 0 {
		t.Errorf("select_users duration sum = %v, want > 0", h.GetSampleSum())
	}
	if got := m.Histogram(t, "headline_sql_duration_seconds", "op", "update_user").GetSampleCount(); got != 0 {
		t.Errorf("update_user observations = %d, want 0", got)
	}
}

func (c *metricsScrape) graphQL(t *testing.T) {
	m := c.m
	for _, c := range []struct {
		operation, outcome string
		want               uint64
	}{
		{"Feed", "ok", 3},
		{"anonymous", "ok", 1},
		{"BadID", "error", 1},
	} {
		h := m.Histogram(t, "headline_graphql_request_duration_seconds", "operation", c.operation, "outcome", c.outcome)
		if got := h.GetSampleCount(); got != c.want {
			t.Errorf("{operation=%q,outcome=%q} count = %d, want %d", c.operation, c.outcome, got, c.want)
		}
	}
	if n := len(m["headline_graphql_request_duration_seconds"].GetMetric()); n != 3 {
		t.Errorf("%d series of headline_graphql_request_duration_seconds, want 3", n)
	}
}

func (c *metricsScrape) collectors(t *testing.T) {
	m := c.m
	if got := m.Value(t, "headline_redis_pool_connections"); got < 1 {
		t.Errorf("headline_redis_pool_connections = %v, want ≥ 1", got)
	}
	if got := m.Value(t, "headline_redis_pool_hits_total") + m.Value(t, "headline_redis_pool_misses_total"); got < 1 {
		t.Errorf("pool hits + misses = %v, want ≥ 1", got)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := m[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
}

func TestMetricsOff(t *testing.T) {
	s := newTestServer(t, func(c *testConfig) { c.Metrics = false })
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics with METRICS=false: %d, want 404", resp.StatusCode)
	}
}
