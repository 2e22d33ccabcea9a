package store

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/store/rediscache"
)

// Lookup answers a batch of lookups in their order, as Get does; for a key
// with Status the user's Status is known too. Keys must be distinct; one id
// may come with and without Status. The profile and status entries of the
// whole batch are read in one MGET, and whatever missed in one SELECT.
func (p *Profiles) Lookup(ctx context.Context, keys []headline.Lookup) (users []*headline.User, errs []error) {
	users = make([]*headline.User, len(keys))
	errs = make([]error, len(keys))
	if len(keys) == 0 {
		return users, errs
	}
	p.opts.Observer.Batch(ctx, len(keys))
	start := time.Now()
	// The batch is built here, not by a function of its own, so that its
	// maps and slices stay on this goroutine's stack.
	var ids, statusIDs []headline.UserID
	pos := make(map[headline.UserID]int, len(keys))
	wantStatus := make(map[headline.UserID]bool)
	for _, k := range keys {
		if _, ok := pos[k.ID]; !ok {
			pos[k.ID] = len(ids)
			ids = append(ids, k.ID)
		}
		if k.Status && !wantStatus[k.ID] {
			wantStatus[k.ID] = true
			statusIDs = append(statusIDs, k.ID)
		}
	}
	b := &batch{ids: ids, statusIDs: statusIDs, pos: pos, wantStatus: wantStatus}
	p.readCache(ctx, b)
	need := b.needs()
	p.observeRead(ctx, b, len(need))
	loaded := p.loadMisses(ctx, b, need, start)
	b.answer(keys, loaded, users, errs)
	return users, errs
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
}

// entry is what the cache held for id.
func (b *batch) entry(id headline.UserID) rediscache.Entry { return b.entries[b.pos[id]] }

// readCache reads the batch's entries in one round trip. A failed read is
// logged and leaves every id a miss.
func (p *Profiles) readCache(ctx context.Context, b *batch) {
	entries, err := p.cache.Get(ctx, b.ids, b.statusIDs)
	b.cacheOK = err == nil
	if b.cacheOK {
		b.entries = entries
		return
	}
	p.redisError(ctx, "read", err)
	level := slog.LevelWarn
	if errors.Is(err, rediscache.ErrBreakerOpen) {
		// Said once, when the breaker opened; not again per request.
		level = slog.LevelDebug
	}
	p.log.Log(ctx, level, "cache read failed; loading from the database", "keys", len(b.ids)+len(b.statusIDs), "err", err)
	b.entries = make([]rediscache.Entry, len(b.ids))
}

// needs lists (as indexes into ids) the ids that need the database: their
// profile missed, or their status was asked for and missed (unless the
// cache says there is no user).
func (b *batch) needs() []int {
	var need []int
	for i, id := range b.ids {
		e := b.entries[i]
		if e.Kind == rediscache.Miss || (b.wantStatus[id] && e.Status == headline.StatusUnknown && e.Kind != rediscache.Missing) {
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

// answer fills users and errs, one per key: from the loads where an id
// needed one, else from the cache.
func (b *batch) answer(keys []headline.Lookup, loaded map[headline.UserID]*flight, users []*headline.User, errs []error) {
	for i, k := range keys {
		e := b.entry(k.ID)
		if f, ok := loaded[k.ID]; ok {
			users[i], errs[i] = fromFlight(k, e, f)
			continue
		}
		if e.Kind != rediscache.Hit {
			continue // Missing: no such user
		}
		users[i] = e.User
		if k.Status {
			u := *e.User
			u.Status = e.Status
			users[i] = &u
		}
	}
}

// fromFlight is k's answer from the load of its id.
func fromFlight(k headline.Lookup, e rediscache.Entry, f *flight) (*headline.User, error) {
	if f.err != nil {
		return nil, f.err
	}
	if f.user == nil {
		return nil, nil
	}
	// The flight's user is shared: copy it to set the status this key asked
	// for. A cached status is believed over the row's, as a cached profile
	// is, so that answers do not flip between the two until the entry
	// expires; a load for the status alone keeps the cached profile (the row
	// may come from a replica that is behind the cache).
	u := *f.user
	if e.Kind == rediscache.Hit {
		u = *e.User
		u.Status = f.user.Status
	}
	switch {
	case !k.Status:
		u.Status = headline.StatusUnknown
	case e.Status != headline.StatusUnknown:
		u.Status = e.Status
	}
	return &u, nil
}
