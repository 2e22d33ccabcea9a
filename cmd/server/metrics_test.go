package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/headline/headline/store/rediscache"
)

func TestMetrics(t *testing.T) {
	s := newTestServer(t)
	s.addUsers(t, seqUsers(25000, 3)...) // 25000–25002; 25999 does not exist
	feed := `query Feed { users(ids: ["25000", "25001", "25002", "25999"]) { id name } }`
	s.resetCounts()

	mustOK := func(t *testing.T, r gqlResponse) {
		t.Helper()
		if len(r.Errors) > 0 {
			t.Fatalf("errors: %s", r.Raw)
		}
	}
	// 1. Cold: one batch of 4 keys, all absent from the cache, one SELECT.
	mustOK(t, s.post(t, feed, nil))
	// 2. Warm: 3 profiles and the "-1" of 25999.
	mustOK(t, s.post(t, feed, nil))
	// 3. A value of another shape for 25001: loaded again, one more SELECT.
	if err := s.redis.Raw.Set(context.Background(), rediscache.ProfileKey(25001), `{"name": 42}`, 0).Err(); err != nil {
		t.Fatal(err)
	}
	mustOK(t, s.post(t, feed, nil))
	// 4. Unnamed: one batch of 1 key, a hit.
	mustOK(t, s.post(t, `{ user(id: "25002") { id } }`, nil))
	// 5. A bad id: refused before any loader, Redis or SQL work.
	if r := s.post(t, `query BadID { user(id: "abc") { id } }`, nil); r.code("user") != "BAD_USER_INPUT" {
		t.Fatalf("bad id: want BAD_USER_INPUT, got %s", r.Raw)
	}
	selects := s.sql.Count("SELECT")
	if selects != 2 {
		t.Fatalf("SELECTs = %d, want 2: %q", selects, s.sql.Queries())
	}

	m := scrapeMetrics(t, s.URL)

	t.Run("cache lookups by result", func(t *testing.T) {
		for result, want := range map[string]float64{"hit": 3 + 2 + 1, "miss": 4, "negative": 1 + 1, "corrupt": 1} {
			if got := m.value(t, "headline_cache_requests_total", "result", result); got != want {
				t.Errorf("headline_cache_requests_total{result=%q} = %v, want %v", result, got, want)
			}
		}
	})

	t.Run("no Redis errors and the breaker closed", func(t *testing.T) {
		for _, op := range []string{"read", "lease", "fill", "invalidate", "apq"} {
			if got := m.value(t, "headline_redis_errors_total", "op", op); got != 0 {
				t.Errorf("headline_redis_errors_total{op=%q} = %v, want 0", op, got)
			}
		}
		if got := m.value(t, "headline_redis_breaker_state"); got != 0 {
			t.Errorf("headline_redis_breaker_state = %v, want 0 (closed)", got)
		}
		// One node: one breaker for the profile cache, and none yet for
		// persisted queries, which no request used.
		if got := m.value(t, "headline_redis_node_breaker_state", "breaker", "cache", "node", "all"); got != 0 {
			t.Errorf(`headline_redis_node_breaker_state{breaker="cache",node="all"} = %v, want 0 (closed)`, got)
		}
		if n := len(m["headline_redis_node_breaker_state"].GetMetric()); n != 1 {
			t.Errorf("%d series of headline_redis_node_breaker_state, want 1", n)
		}
	})

	t.Run("batch histogram: one observation per batch, the keys summed", func(t *testing.T) {
		h := m.histogram(t, "headline_loader_batch_keys")
		if got, want := h.GetSampleCount(), uint64(4); got != want {
			t.Errorf("batches = %d, want %d", got, want)
		}
		if got, want := h.GetSampleSum(), float64(4+4+4+1); got != want {
			t.Errorf("keys = %v, want %v", got, want)
		}
	})

	t.Run("SQL histogram counts the SELECTs", func(t *testing.T) {
		h := m.histogram(t, "headline_sql_duration_seconds", "op", "select_users")
		if got := h.GetSampleCount(); got != uint64(selects) {
			t.Errorf("select_users observations = %d, want %d (the SELECTs run)", got, selects)
		}
		if h.GetSampleSum() <= 0 {
			t.Errorf("select_users duration sum = %v, want > 0", h.GetSampleSum())
		}
		if got := m.histogram(t, "headline_sql_duration_seconds", "op", "update_user").GetSampleCount(); got != 0 {
			t.Errorf("update_user observations = %d, want 0", got)
		}
	})

	t.Run("GraphQL durations by operation name and outcome", func(t *testing.T) {
		for _, c := range []struct {
			operation, outcome string
			want               uint64
		}{
			{"Feed", "ok", 3},
			{"anonymous", "ok", 1},
			{"BadID", "error", 1},
		} {
			h := m.histogram(t, "headline_graphql_request_duration_seconds", "operation", c.operation, "outcome", c.outcome)
			if got := h.GetSampleCount(); got != c.want {
				t.Errorf("{operation=%q,outcome=%q} count = %d, want %d", c.operation, c.outcome, got, c.want)
			}
		}
		if n := len(m["headline_graphql_request_duration_seconds"].GetMetric()); n != 3 {
			t.Errorf("%d series of headline_graphql_request_duration_seconds, want 3", n)
		}
	})

	t.Run("pool, runtime and process collectors", func(t *testing.T) {
		if got := m.value(t, "headline_redis_pool_connections"); got < 1 {
			t.Errorf("headline_redis_pool_connections = %v, want ≥ 1", got)
		}
		if got := m.value(t, "headline_redis_pool_hits_total") + m.value(t, "headline_redis_pool_misses_total"); got < 1 {
			t.Errorf("pool hits + misses = %v, want ≥ 1", got)
		}
		for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
			if _, ok := m[name]; !ok {
				t.Errorf("no %s", name)
			}
		}
	})
}

func TestMetricsOff(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.Metrics = false })
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics with METRICS=false: %d, want 404", resp.StatusCode)
	}
}

func TestMetricsOperationNamesAreBounded(t *testing.T) {
	o := operationNames{max: 100}
	for _, c := range []struct{ name, want string }{
		{"", "anonymous"},
		{"Feed", "Feed"},
		{"_private9", "_private9"},
		{"9lives", "other"},
		{"has space", "other"},
		{"Ünicode", "other"},
		{strings.Repeat("a", 64), strings.Repeat("a", 64)},
		{strings.Repeat("a", 65), "other"},
	} {
		if got := o.label(c.name); got != c.want {
			t.Errorf("label(%q) = %q, want %q", c.name, got, c.want)
		}
	}
	for i := len(o.seen); i < 100; i++ {
		o.label(fmt.Sprintf("Op%d", i))
	}
	if got := o.label("OneTooMany"); got != "other" {
		t.Errorf("the 101st name: %q, want other", got)
	}
	if got := o.label("Feed"); got != "Feed" {
		t.Errorf("a name seen before the cap: %q, want Feed", got)
	}
}

// scrape is one /metrics response, by metric name.
type scrape map[string]*dto.MetricFamily

func scrapeMetrics(t *testing.T, base string) scrape {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// find returns the series of name whose labels include the given name,
// value pairs.
func (s scrape) find(t *testing.T, name string, labels ...string) *dto.Metric {
	t.Helper()
	fam, ok := s[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range fam.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	t.Fatalf("no series %s%v", name, labels)
	return nil
}

// value is the value of a counter or gauge series.
func (s scrape) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	m := s.find(t, name, labels...)
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("%s%v is neither a counter nor a gauge", name, labels)
	return 0
}

func (s scrape) histogram(t *testing.T, name string, labels ...string) *dto.Histogram {
	t.Helper()
	h := s.find(t, name, labels...).GetHistogram()
	if h == nil {
		t.Fatalf("%s%v is not a histogram", name, labels)
	}
	return h
}
