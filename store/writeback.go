package store

import (
	"context"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/store/rediscache"
)

// writeBack writes what the SELECT read back to the cache under the batch's
// leases, unless the cache just failed (a second timeout would only add
// latency). After a failed SELECT it gives the leases up instead.
func (p *Profiles) writeBack(ctx context.Context, l *loading, b *batch) {
	if l.err != nil {
		if err := p.cache.Release(ctx, l.lease); err != nil {
			p.redisError(ctx, "lease", err)
			p.log.WarnContext(ctx, "cache lease release failed", "ids", l.lease.Taken(), "err", err)
		}
		return
	}
	if !l.cacheOK {
		return
	}
	voided, err := p.cache.Fill(ctx, l.writes(b), l.lease)
	if len(voided) > 0 {
		p.selectAgain(ctx, l, voided)
	}
	if err != nil {
		p.redisError(ctx, "fill", err)
		p.log.WarnContext(ctx, "cache write-back failed", "ids", len(l.selectIDs), "err", err)
	}
}

// writes is what the load puts in the cache: the profiles and "-1" entries
// of the ids whose profile missed, and the statuses asked for that missed.
func (l *loading) writes(b *batch) rediscache.WriteBack {
	var w rediscache.WriteBack
	for _, id := range l.selectIDs {
		e := b.entry(id)
		a, ok := l.found[id]
		switch {
		case e.Kind == rediscache.Miss && ok:
			w.Users = append(w.Users, a.user)
		case e.Kind == rediscache.Miss:
			w.Missing = append(w.Missing, id)
		}
		if ok && b.wantStatus[id] && e.Status == rediscache.StatusUnknown {
			w.Statuses = append(w.Statuses, rediscache.AccountStatus{ID: id, Disabled: a.disabled})
		}
	}
	return w
}

// selectAgain reads the voided ids again, from the primary. An update
// invalidated them while this batch loaded them, so the rows it read may
// predate it: read again, neither this request nor those that joined its
// load after the update returned answer the old profile. They are not
// filled: the next reader does, under a lease of its own.
func (p *Profiles) selectAgain(ctx context.Context, l *loading, voided []headline.UserID) {
	start := time.Now()
	again, err := p.selectUsers(ctx, voided, true)
	p.observeSQL(ctx, "select_users", start, len(again))
	if err == nil {
		for _, id := range voided {
			if a := again[id]; a != nil {
				l.found[id] = account{user: &a.User, disabled: a.Disabled}
			} else {
				l.found[id] = account{}
			}
		}
	}
}
