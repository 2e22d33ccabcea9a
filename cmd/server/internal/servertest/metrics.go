package servertest

import (
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape is one /metrics response, by metric name.
type Scrape map[string]*dto.MetricFamily

// ScrapeMetrics GETs base's /metrics.
func ScrapeMetrics(t testing.TB, base string) Scrape {
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

// Find returns the series of name whose labels include the given name,
// value pairs.
func (s Scrape) Find(t testing.TB, name string, labels ...string) *dto.Metric {
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

// Value is the value of a counter or gauge series.
func (s Scrape) Value(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	m := s.Find(t, name, labels...)
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("%s%v is neither a counter nor a gauge", name, labels)
	return 0
}

// Histogram is the histogram of a series.
func (s Scrape) Histogram(t testing.TB, name string, labels ...string) *dto.Histogram {
	t.Helper()
	h := s.Find(t, name, labels...).GetHistogram()
	if h == nil {
		t.Fatalf("%s%v is not a histogram", name, labels)
	}
	return h
}
