package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/headline/headline/store/localcache"
)

// LocalTierStats is what the metrics read of the local tier (a
// *store.LocalTier): its counters, snapshot at each scrape.
type LocalTierStats interface{ Stats() localcache.Stats }

// WatchLocalTier adds the local tier's series, read from tier's counters
// at each scrape (nothing per request). Without a tier there are none.
func (m *Metrics) WatchLocalTier(tier LocalTierStats) {
	m.registry.MustRegister(newLocalTierCollector(tier))
}

// localTierCollector reports the local tier's Stats as Prometheus series.
type localTierCollector struct {
	tier LocalTierStats

	lookups, fills, invalidations, evictions, flushes *prometheus.Desc
	bytes, entries, usable                            *prometheus.Desc
}

func newLocalTierCollector(tier LocalTierStats) *localTierCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("headline_local_cache_"+name, help, labels, nil)
	}
	return &localTierCollector{
		tier: tier,
		lookups: desc("lookups_total", `Entries looked up in the local tier (profiles, "-1" entries, statuses), by result: hit, or miss (not held, or the tier not usable), which reads Redis.`,
			"result"),
		fills: desc("fills_total", "Entries Redis returned, by what the tier did: stored, or refused (an invalidation, a flush or lost tracking came while the read was in flight).",
			"result"),
		invalidations: desc("invalidations_total", "Keys evicted by Redis's invalidations (anyone's change, expiry, eviction) or by this process's updates, held or not."),
		evictions: desc("evictions_total", "Entries dropped by the tier's bounds, by reason: size (LOCAL_CACHE_SIZE), age (LOCAL_CACHE_MAX_AGE).",
			"reason"),
		flushes: desc("flushes_total", "Whole-tier drops: FLUSHDB/FLUSHALL, a tracking connection lost or made again, the set of Redis masters changed."),
		bytes:   desc("bytes", "Bytes the tier holds, as it counts them (values and a fixed overhead per entry): at most LOCAL_CACHE_SIZE."),
		entries: desc("entries", "Entries the tier holds (estimated)."),
		usable:  desc("usable", "1 while Redis tracks every master for the tier and it serves; 0 while it does not (every lookup then reads Redis)."),
	}
}

func (c *localTierCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lookups, c.fills, c.invalidations, c.evictions, c.flushes, c.bytes, c.entries, c.usable} {
		ch <- d
	}
}

func (c *localTierCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.tier.Stats()
	counter := func(d *prometheus.Desc, v uint64, label ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), label...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(c.lookups, s.Hits, "hit")
	counter(c.lookups, s.Misses+s.Bypasses, "miss")
	counter(c.fills, s.Fills, "stored")
	counter(c.fills, s.FillsRefused, "refused")
	counter(c.invalidations, s.Invalidations)
	counter(c.evictions, s.Evictions, "size")
	counter(c.evictions, s.Expirations, "age")
	counter(c.flushes, s.Flushes)
	gauge(c.bytes, float64(s.Bytes))
	gauge(c.entries, float64(s.Entries))
	usable := 0.0
	if s.Usable {
		usable = 1
	}
	gauge(c.usable, usable)
}
