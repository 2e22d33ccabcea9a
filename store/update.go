package store

import (
	"context"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/store/sqldb"
)

// Update applies upd to user id's profile in MySQL, then invalidates the
// cached profile (in Redis, and in this process's local tier) so the
// Toutiao backend and every headline instance read the new one. MySQL is
// the truth: if Redis cannot be reached the update still succeeds, the
// failed invalidation is logged and retried until Redis answers
// (retryInvalidation).
func (p *Profiles) Update(ctx context.Context, id headline.UserID, upd headline.ProfileUpdate) (*headline.User, error) {
	start := time.Now()
	u, err := sqldb.UpdateUser(ctx, p.db, id, upd)
	p.observeSQL(ctx, "update_user", start, 0)
	if err != nil {
		return nil, err
	}
	// Loads of this process that finished before the update must not be
	// joined after it.
	p.mu.Lock()
	delete(p.flights, id)
	p.noteWritten(id)
	p.mu.Unlock()
	err = p.cache.Invalidate(context.WithoutCancel(ctx), id, p.opts.FreshWindow)
	// After the DEL, so that a read of this instance that begins now reads
	// Redis after it: the updating request reads its own write at once,
	// without waiting for Redis's invalidation to come back. Also when the
	// DEL failed: the old entry must not outlive the update here.
	p.opts.Local.Invalidate(infoKey(id))
	if err != nil {
		p.redisError(ctx, "invalidate", err)
		p.log.ErrorContext(ctx, "profile updated but its cache entry could not be invalidated; retrying until Redis answers",
			"user", id, "err", err)
		p.retryInvalidation(id)
	}
	return u, nil
}

// noteWritten remembers that id was just updated, so that this process reads
// it from the primary for the fresh window even when Redis, which tells the
// other instances, is down. Callers hold p.mu.
func (p *Profiles) noteWritten(id headline.UserID) {
	if p.opts.Replicas == nil {
		return
	}
	now := time.Now()
	if len(p.written) >= 1024 {
		for w, at := range p.written {
			if now.Sub(at) >= p.opts.FreshWindow {
				delete(p.written, w)
			}
		}
	}
	if p.written == nil {
		p.written = make(map[headline.UserID]time.Time)
	}
	p.written[id] = now
}

// writtenLately reports whether this process updated id in the fresh window.
func (p *Profiles) writtenLately(id headline.UserID) bool {
	if p.opts.Replicas == nil {
		return false // noteWritten notes nothing: every read is the primary's
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.written[id]
	return ok && time.Since(at) < p.opts.FreshWindow
}
