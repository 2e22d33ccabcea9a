package store

import (
	"context"
	"sync/atomic"
)

// RequestStats counts what Profiles did for one request, for the request's
// log line. Profiles finds it in the context a lookup runs with: the
// loaders are per request, so every batch runs with a context of the request
// that made it. The batches of one request may run at once, hence atomics.
type RequestStats struct {
	// CacheHits counts ids the cache answered: a profile or "-1".
	CacheHits atomic.Int64
	// CacheMisses counts ids the cache did not answer (absent, of another
	// shape, the status entry missing when it was needed, or Redis down),
	// whoever then loaded them.
	CacheMisses atomic.Int64
	// Joined counts the misses another request's load answered (one under
	// way, or finished moments ago): this request ran no SELECT for them.
	Joined atomic.Int64
	// SQLRows counts the rows this request's SELECTs read. A row is counted
	// once, for the request that read it, not for those that joined its
	// load, so that the figures of all request lines add up to what the
	// database did.
	SQLRows atomic.Int64
}

type statsKey struct{}

// WithRequestStats returns a context that carries fresh counters, and the
// counters.
func WithRequestStats(ctx context.Context) (context.Context, *RequestStats) {
	s := &RequestStats{}
	return context.WithValue(ctx, statsKey{}, s), s
}

// statsFrom returns the counters ctx carries, nil when none: then nothing is
// counted.
func statsFrom(ctx context.Context) *RequestStats {
	s, _ := ctx.Value(statsKey{}).(*RequestStats)
	return s
}
