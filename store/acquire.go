package store

import (
	"context"

	"github.com/headline/headline"
	"github.com/headline/headline/store/rediscache"
)

// acquire lists the owned ids and takes the leases of those whose profile
// missed, unless the read took them already (or found them held by
// others): with the read-or-lease script only a corrupt entry is leased
// here. An id whose node is down is loaded, not leased: its lease and fill
// would only fail or be kept back by the node's breaker. When the leases
// cannot be taken the load goes on without write-back.
func (p *Profiles) acquire(ctx context.Context, l *loading, b *batch) {
	held := make(map[headline.UserID]bool, len(b.lease.Held))
	for _, id := range b.lease.Held {
		held[id] = true
	}
	// The read's leases are all this load's (join makes the holder of a
	// lease own the load), and of the ids held by others only the owned
	// ones are awaited.
	l.lease = b.lease
	l.lease.Held = nil
	var missed []headline.UserID
	for id := range l.own {
		l.ids = append(l.ids, id)
		e := b.entry(id)
		switch {
		case held[id]:
			l.lease.Held = append(l.lease.Held, id)
		case e.Kind == rediscache.Miss && !e.Down && !b.lease.Holds(id):
			missed = append(missed, id)
		}
	}
	if !l.cacheOK || len(missed) == 0 {
		return
	}
	lease, err := p.cache.Acquire(ctx, missed, p.opts.LeaseTTL, p.opts.Replicas != nil)
	if err != nil {
		p.redisError(ctx, "lease", err)
		p.log.WarnContext(ctx, "cache lease failed; loading without write-back", "ids", len(missed), "err", err)
		l.cacheOK = false
		return
	}
	l.lease = l.lease.Merge(lease)
}
