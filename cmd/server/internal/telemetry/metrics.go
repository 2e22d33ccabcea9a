package telemetry

import (
	"context"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/headline/headline/store"
	"github.com/headline/headline/store/rediscache"
)

// Metrics are the server's Prometheus metrics, on a registry of their own:
// no global state, so two servers in one process (as in tests) count apart.
// It implements store.Observer, and feeds the GraphQL handler's
// observations into the same registry.
type Metrics struct {
	registry *prometheus.Registry

	cacheHit, cacheMiss, cacheNegative, cacheCorrupt prometheus.Counter
	redisErrors                                      *prometheus.CounterVec
	apqRegistrations                                 *prometheus.CounterVec
	sqlDuration                                      *prometheus.HistogramVec
	batchKeys                                        prometheus.Histogram
	graphqlDuration                                  *prometheus.HistogramVec
	operations                                       operationNames
}

var _ store.Observer = (*Metrics)(nil)

// BreakerStates tells the Redis circuit breakers' states (a *rediscache.Cache).
type BreakerStates interface {
	BreakerState() string
	Breakers() []rediscache.NodeBreaker
}

// NewMetrics registers every metric: the application's, rdb's connection
// pool, the breakers' states, and the Go runtime's and the process's.
func NewMetrics(rdb redis.UniversalClient, breakers BreakerStates) *Metrics {
	reg := prometheus.NewRegistry()
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "headline_cache_requests_total",
		Help: `Profile cache entries read, by what they held: hit (a profile), miss (absent), negative ("-1": no such user), corrupt (a value of another shape, over 4 KiB or not valid UTF-8, loaded again like a miss).`,
	}, []string{"result"})
	m := &Metrics{
		registry:      reg,
		cacheHit:      cache.WithLabelValues("hit"),
		cacheMiss:     cache.WithLabelValues("miss"),
		cacheNegative: cache.WithLabelValues("negative"),
		cacheCorrupt:  cache.WithLabelValues("corrupt"),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "headline_redis_errors_total",
			Help: "Failed Redis calls by operation: read (MGET), lease (take or release leases), fill (write-back), invalidate, apq (persisted queries). Calls the open circuit breaker kept off Redis are not counted.",
		}, []string{"op"}),
		apqRegistrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "headline_apq_registrations_total",
			Help: "Persisted queries sent in full with their hash that this process did not hold yet, by result: stored, or refused and kept nowhere because the client (limited_client) or this process (limited_instance) is over its budget of registrations.",
		}, []string{"result"}),
		sqlDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "headline_sql_duration_seconds",
			Help:    "Duration of database calls: select_users (one SELECT … IN for a batch's misses), update_user (updateMe's transaction).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"op"}),
		batchKeys: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "headline_loader_batch_keys",
			Help:    "Keys per loader batch (one Redis read, at most one SELECT).",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		}),
		graphqlDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "headline_graphql_request_duration_seconds",
			Help:    `GraphQL requests from their start in the handler to their response, by operation name ("anonymous" when unnamed, "other" past the first 100 names or for unusual ones) and outcome (error: the response has errors).`,
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation", "outcome"}),
		operations: operationNames{max: 100},
	}
	for _, op := range []string{"read", "lease", "fill", "invalidate", "apq"} {
		m.redisErrors.WithLabelValues(op)
	}
	for _, result := range []string{"stored", "limited_client", "limited_instance"} {
		m.apqRegistrations.WithLabelValues(result)
	}
	for _, op := range []string{"select_users", "update_user"} {
		m.sqlDuration.WithLabelValues(op)
	}
	reg.MustRegister(
		cache, m.redisErrors, m.apqRegistrations, m.sqlDuration, m.batchKeys, m.graphqlDuration,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "headline_redis_breaker_state",
			Help: "The profile cache's Redis circuit breakers, the worst of them: 0 all closed, 1 one half-open (one probe let through), 2 one open (calls to its node kept off Redis). On a cluster each master has its own: headline_redis_node_breaker_state.",
		}, func() float64 { return breakerValue(breakers.BreakerState()) }),
		nodeBreakerCollector{breakers: breakers, desc: prometheus.NewDesc("headline_redis_node_breaker_state",
			`Each Redis circuit breaker, by what it guards (breaker: cache for profile entries, apq for persisted queries) and node (a cluster master's address, or "all" for the one breaker of a single node or Sentinel master): 0 closed, 1 half-open, 2 open.`,
			[]string{"breaker", "node"}, nil)},
		newBuildInfoGauge(ReadBuildInfo()),
		newRedisPoolCollector(rdb),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// newBuildInfoGauge is 1, labelled with the build: a dashboard can show
// which commit each instance runs, and join it onto other series.
func newBuildInfoGauge(b BuildInfo) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "headline_build_info",
		Help: "Always 1; the labels say which build runs: module version, VCS revision, commit time, whether the work tree was modified, Go version.",
		ConstLabels: prometheus.Labels{
			"version": b.Version, "revision": b.Revision, "vcs_time": b.Time, "modified": b.Modified, "goversion": b.GoVersion,
		},
	})
	g.Set(1)
	return g
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Batch implements store.Observer.
func (m *Metrics) Batch(_ context.Context, keys int) { m.batchKeys.Observe(float64(keys)) }

// CacheRead implements store.Observer.
func (m *Metrics) CacheRead(_ context.Context, r store.CacheRead) {
	for _, c := range []struct {
		counter prometheus.Counter
		n       int
	}{{m.cacheHit, r.Hit}, {m.cacheMiss, r.Miss}, {m.cacheNegative, r.Negative}, {m.cacheCorrupt, r.Corrupt}} {
		if c.n > 0 {
			c.counter.Add(float64(c.n))
		}
	}
}

// Joined implements store.Observer: no metric counts it.
func (m *Metrics) Joined(context.Context, int) {}

// RedisError implements store.Observer.
func (m *Metrics) RedisError(_ context.Context, op string) { m.redisErrors.WithLabelValues(op).Inc() }

// APQRegistration implements store.Observer.
func (m *Metrics) APQRegistration(_ context.Context, result string) {
	m.apqRegistrations.WithLabelValues(result).Inc()
}

// SQL implements store.Observer.
func (m *Metrics) SQL(_ context.Context, op string, d time.Duration, _ int) {
	m.sqlDuration.WithLabelValues(op).Observe(d.Seconds())
}

// graphqlExtension times every GraphQL response, the refused ones (parse,
// validation and limit errors) included.
func (m *Metrics) graphqlExtension() graphql.HandlerExtension { return graphqlMetrics{m} }

type graphqlMetrics struct{ m *Metrics }

var _ graphql.ResponseInterceptor = graphqlMetrics{}

func (graphqlMetrics) ExtensionName() string                   { return "Metrics" }
func (graphqlMetrics) Validate(graphql.ExecutableSchema) error { return nil }

func (g graphqlMetrics) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	start := graphql.GetStartTime(ctx) // set as the handler begins, before the body is read
	if start.IsZero() {
		start = time.Now()
	}
	resp := next(ctx)
	if resp == nil {
		return nil
	}
	name, _ := operationName(ctx)
	outcome := "ok"
	if len(resp.Errors) > 0 {
		outcome = "error"
	}
	g.m.graphqlDuration.WithLabelValues(g.m.operations.label(name), outcome).Observe(time.Since(start).Seconds())
	return resp
}

// operationLabel is the shape of an operation name kept as a label value.
var operationLabel = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// operationNames bounds the operation label: clients choose operation
// names, and each distinct one would be a new series. An unnamed operation
// is "anonymous"; a name longer than 64 characters or not a GraphQL name,
// or any name past the first max seen, is "other".
type operationNames struct {
	max  int
	mu   sync.Mutex
	seen map[string]bool
}

func (o *operationNames) label(name string) string {
	if name == "" {
		return "anonymous"
	}
	if !operationLabel.MatchString(name) {
		return "other"
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen[name] {
		return name
	}
	if len(o.seen) >= o.max {
		return "other"
	}
	if o.seen == nil {
		o.seen = make(map[string]bool)
	}
	o.seen[name] = true
	return name
}

// breakerValue is a breaker state as the gauges report it.
func breakerValue(state string) float64 {
	switch state {
	case "half-open":
		return 1
	case "open":
		return 2
	}
	return 0
}

// nodeBreakerCollector reports each node's breaker at each scrape: the
// nodes are known only as keys go to them.
type nodeBreakerCollector struct {
	breakers BreakerStates
	desc     *prometheus.Desc
}

func (c nodeBreakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c nodeBreakerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, b := range c.breakers.Breakers() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, breakerValue(b.State), b.Breaker, b.Node)
	}
}

// redisPoolCollector reports go-redis's connection pool statistics at each
// scrape (go-redis's own redisprometheus module is not published at a
// version for this go-redis).
type redisPoolCollector struct {
	stats interface{ PoolStats() *redis.PoolStats }

	hits, misses, timeouts, waits, waitSeconds, unusable, stale *prometheus.Desc
	conns, idle, pending                                        *prometheus.Desc
}

func newRedisPoolCollector(rdb interface{ PoolStats() *redis.PoolStats }) *redisPoolCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("headline_redis_pool_"+name, help, nil, nil)
	}
	return &redisPoolCollector{
		stats:       rdb,
		hits:        desc("hits_total", "Times a free connection was found in the pool."),
		misses:      desc("misses_total", "Times no free connection was found in the pool."),
		timeouts:    desc("timeouts_total", "Times waiting for a connection timed out."),
		waits:       desc("waits_total", "Times a caller waited for a connection."),
		waitSeconds: desc("wait_seconds_total", "Time spent waiting for a connection."),
		unusable:    desc("unusable_total", "Connections found unusable."),
		stale:       desc("stale_connections_total", "Stale connections removed from the pool."),
		conns:       desc("connections", "Connections in the pool."),
		idle:        desc("idle_connections", "Idle connections in the pool."),
		pending:     desc("pending_requests", "Callers waiting for a connection."),
	}
}

func (c *redisPoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.hits, c.misses, c.timeouts, c.waits, c.waitSeconds, c.unusable, c.stale, c.conns, c.idle, c.pending} {
		ch <- d
	}
}

func (c *redisPoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats.PoolStats()
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(c.hits, float64(s.Hits))
	counter(c.misses, float64(s.Misses))
	counter(c.timeouts, float64(s.Timeouts))
	counter(c.waits, float64(s.WaitCount))
	counter(c.waitSeconds, time.Duration(s.WaitDurationNs).Seconds())
	counter(c.unusable, float64(s.Unusable))
	counter(c.stale, float64(s.StaleConns))
	gauge(c.conns, float64(s.TotalConns))
	gauge(c.idle, float64(s.IdleConns))
	gauge(c.pending, float64(s.PendingRequests))
}
