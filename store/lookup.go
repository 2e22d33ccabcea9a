package store

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/store/rediscache"
)

// Lookup answers a batch of lookups, one result per key in key order.
// Keys must be distinct; one id may come with and without WithStatus. The
// profile and status entries of the whole batch are read from the local
// tier, if there is one, and what it lacks in one MGET (with the tier, in
// one call of the read-or-lease script), and whatever missed in one SELECT.
func (p *Profiles) Lookup(ctx context.Context, keys []Key) Results {
	if len(keys) == 0 {
		return MakeResults(0, false)
	}
	p.opts.Observer.Batch(ctx, len(keys))
	start := time.Now()
	ids := make([]headline.UserID, 0, len(keys))
	var statusIDs []headline.UserID
	pos := make(map[headline.UserID]int, len(keys))
	var wantStatus map[headline.UserID]bool // most batches ask for none
	for _, k := range keys {
		if _, ok := pos[k.ID]; !ok {
			pos[k.ID] = len(ids)
			ids = append(ids, k.ID)
		}
		if k.WithStatus && !wantStatus[k.ID] {
			if wantStatus == nil {
				wantStatus = make(map[headline.UserID]bool)
			}
			wantStatus[k.ID] = true
			statusIDs = append(statusIDs, k.ID)
		}
	}
	b := &batch{ids: ids, statusIDs: statusIDs, pos: pos, wantStatus: wantStatus}
	p.readCache(ctx, b)
	need := b.needs()
	p.observeRead(ctx, b, len(need))
	loaded := p.loadMisses(ctx, b, need, start)
	return b.answer(keys, loaded)
}

// batch is what one Lookup knows of its ids.
type batch struct {
	ids        []headline.UserID // distinct, in the order of the keys
	statusIDs  []headline.UserID // the ids whose status a key asks for
	pos        map[headline.UserID]int
	wantStatus map[headline.UserID]bool
	// entries holds what the cache held for each of ids, in their order;
	// all misses when the cache could not be read (cacheOK false).
	entries []rediscache.Entry
	cacheOK bool
	// lease holds the leases the read took (the read-or-lease script), and
	// the absent profiles others hold; zero after a plain MGET.
	lease rediscache.Lease
	// localProfile[i]: the profile of ids[i] came from the local tier;
	// redisStatus[i]: its status was asked of Redis.
	localProfile, redisStatus []bool
}

// entry is what the cache held for id.
func (b *batch) entry(id headline.UserID) rediscache.Entry { return b.entries[b.pos[id]] }

// readFailed reports and logs a failed read of the batch.
func (p *Profiles) readFailed(ctx context.Context, b *batch, err error) {
	p.redisError(ctx, "read", err)
	level := slog.LevelWarn
	if errors.Is(err, rediscache.ErrBreakerOpen) {
		// Said once, when the breaker opened; not again per request.
		level = slog.LevelDebug
	}
	p.log.Log(ctx, level, "cache read failed; loading from the database", "keys", len(b.ids)+len(b.statusIDs), "err", err)
}

// needs lists (as indexes into ids) the ids that need the database: their
// profile missed, or their status was asked for and missed (unless the
// cache says there is no user).
func (b *batch) needs() []int {
	var need []int
	for i, id := range b.ids {
		e := b.entries[i]
		if e.Kind == rediscache.Miss || (b.wantStatus[id] && e.Status == rediscache.StatusUnknown && e.Kind != rediscache.Missing) {
			need = append(need, i)
		}
	}
	return need
}

// loadMisses gets the ids in need from the database: it joins the loads
// under way, loads the rest itself, and returns each id's finished flight
// (one failed with ctx's error if ctx ended first).
func (p *Profiles) loadMisses(ctx context.Context, b *batch, need []int, start time.Time) map[headline.UserID]*flight {
	if len(need) == 0 {
		return nil
	}
	loaded := make(map[headline.UserID]*flight, len(need))
	flights, own := p.join(b, need, start)
	p.opts.Observer.Joined(ctx, len(need)-len(own))
	if len(own) > 0 {
		p.load(ctx, b, own)
	}
	for _, i := range need {
		f := flights[i]
		select {
		case <-f.done:
		case <-ctx.Done():
			loaded[b.ids[i]] = &flight{err: ctx.Err()}
			continue
		}
		loaded[b.ids[i]] = f
	}
	return loaded
}

// answer answers each key: from the load of its id where it needed one,
// else from the cache.
func (b *batch) answer(keys []Key, loaded map[headline.UserID]*flight) Results {
	r := MakeResults(len(keys), len(b.statusIDs) > 0)
	for i, k := range keys {
		e := b.entry(k.ID)
		if f, ok := loaded[k.ID]; ok {
			var disabled bool
			r.Users[i], disabled, r.Errs[i] = fromFlight(e, f)
			if k.WithStatus {
				r.Disabled[i] = disabled
			}
			continue
		}
		if e.Kind != rediscache.Hit {
			continue // Missing: no such user
		}
		r.Users[i] = e.User
		if k.WithStatus {
			r.Disabled[i] = e.Status == rediscache.StatusDisabled
		}
	}
	return r
}

// fromFlight is the answer for an id from its load. A cached status is
// believed over the row's, as a cached profile is, so that answers do not
// flip between the two until the entry expires; a load for the status
// alone keeps the cached profile (the row may come from a replica that is
// behind the cache).
func fromFlight(e rediscache.Entry, f *flight) (u *headline.User, disabled bool, err error) {
	if f.err != nil {
		return nil, false, f.err
	}
	if f.user == nil {
		return nil, false, nil
	}
	u, disabled = f.user, f.disabled
	if e.Kind == rediscache.Hit {
		u = e.User
	}
	if e.Status != rediscache.StatusUnknown {
		disabled = e.Status == rediscache.StatusDisabled
	}
	return u, disabled, nil
}
