package store

import (
	"context"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/store/rediscache"
)

// awaitFills takes, for the ids whose lease another instance holds, what
// that instance writes, waiting for it up to LeaseWait. A status lookup
// needs the row anyway and does not wait.
func (p *Profiles) awaitFills(ctx context.Context, l *loading, b *batch) {
	l.found = make(map[headline.UserID]account, len(l.ids))
	var waitFor []headline.UserID
	for _, id := range l.lease.Held {
		if !b.wantStatus[id] {
			waitFor = append(waitFor, id)
		}
	}
	if len(waitFor) == 0 {
		return
	}
	l.filled = make(map[headline.UserID]bool, len(waitFor))
	for id, u := range p.pollFills(ctx, waitFor) {
		l.found[id], l.filled[id] = account{user: u}, true
	}
}

// pollFills polls the cache for ids until each is filled or LeaseWait runs
// out, and returns what was filled (nil for "-1"). What is not filled by
// then is loaded by the caller.
func (p *Profiles) pollFills(ctx context.Context, ids []headline.UserID) map[headline.UserID]*headline.User {
	got := make(map[headline.UserID]*headline.User, len(ids))
	deadline := time.Now().Add(p.opts.LeaseWait)
	for pending := ids; len(pending) > 0 && time.Now().Before(deadline); {
		time.Sleep(p.opts.LeasePoll)
		r, err := p.cache.Read(ctx, pending, nil)
		if err != nil {
			p.redisError(ctx, "read", err)
			break
		}
		var still []headline.UserID
		for i, e := range r.Profiles {
			switch e.Kind {
			case rediscache.Hit:
				got[pending[i]] = e.User
			case rediscache.Missing:
				got[pending[i]] = nil
			default:
				still = append(still, pending[i])
			}
		}
		pending = still
	}
	return got
}
