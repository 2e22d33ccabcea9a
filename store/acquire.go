package store

import (
	"context"

	"github.com/headline/headline"
	"github.com/headline/headline/store/rediscache"
)

// acquire lists the owned ids and takes the leases of those whose profile
// missed. An id whose node is down is loaded, not leased: its lease and fill
// would only fail or be kept back by the node's breaker. When the leases
// cannot be taken the load goes on without write-back.
func (p *Profiles) acquire(ctx context.Context, l *loading, b *batch) {
	var missed []headline.UserID
	for id := range l.own {
		l.ids = append(l.ids, id)
		if e := b.entry(id); e.Kind == rediscache.Miss && !e.Down {
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
	l.lease = lease
}
