package telemetry

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/headline/headline/store/localcache"
)

type fixedStats localcache.Stats

func (s fixedStats) Stats() localcache.Stats { return localcache.Stats(s) }

// TestLocalTierSeries: the tier's counters, as the benchmark and the
// dashboards read them; misses include the lookups made while the tier was
// not usable.
func TestLocalTierSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newLocalTierCollector(fixedStats{Hits: 9, Misses: 2, Bypasses: 1, Fills: 4, FillsRefused: 1,
		Invalidations: 5, Evictions: 6, Expirations: 7, Flushes: 8, Bytes: 1024, Entries: 3, Usable: true}))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			got[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"headline_local_cache_lookups_total{result=hit}":    9,
		"headline_local_cache_lookups_total{result=miss}":   3,
		"headline_local_cache_fills_total{result=stored}":   4,
		"headline_local_cache_fills_total{result=refused}":  1,
		"headline_local_cache_invalidations_total":          5,
		"headline_local_cache_evictions_total{reason=size}": 6,
		"headline_local_cache_evictions_total{reason=age}":  7,
		"headline_local_cache_flushes_total":                8,
		"headline_local_cache_bytes":                        1024,
		"headline_local_cache_entries":                      3,
		"headline_local_cache_usable":                       1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("series\n%v\nwant\n%v", got, want)
	}
}
