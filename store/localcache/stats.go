package localcache

// Stats is a snapshot of a tier's counters since New, for metrics.
type Stats struct {
	Hits   uint64 // Gets answered from memory
	Misses uint64 // Gets that found nothing current
	// Bypasses are Gets while the tier was not usable (tracking down).
	Bypasses uint64
	// Fills stored; FillsRefused were not (an invalidation, a flush or
	// lost tracking came since their Begin).
	Fills, FillsRefused uint64
	// Invalidations are keys evicted by Redis's invalidations or by
	// Invalidate, present or not.
	Invalidations uint64
	Evictions     uint64 // entries dropped for MaxBytes
	Expirations   uint64 // entries dropped for MaxAge
	// Flushes count whole-tier drops: FLUSHDB/FLUSHALL, tracking lost or
	// regained, the set of masters changed.
	Flushes uint64
	Bytes   uint64 // the weight held now, as Weigh and EntryOverhead count
	Entries int    // entries held now (estimated; dead ones until cleaned)
	Usable  bool
}

// Stats returns the counters now; the zero Stats for a tier that is off.
func (t *Tier[V]) Stats() Stats {
	if t == nil {
		return Stats{}
	}
	hm := t.hitMiss.Snapshot()
	return Stats{
		Hits:          hm.Hits,
		Misses:        hm.Misses,
		Bypasses:      t.bypasses.Load(),
		Fills:         t.fills.Load(),
		FillsRefused:  t.refused.Load(),
		Invalidations: t.invalidations.Load(),
		Evictions:     t.evictions.Load(),
		Expirations:   t.expirations.Load(),
		Flushes:       t.flushes.Load(),
		Bytes:         t.cache.WeightedSize(),
		Entries:       t.cache.EstimatedSize(),
		Usable:        t.Usable(),
	}
}
