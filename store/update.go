package store

import (
	"context"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/store/sqldb"
)

// Update applies upd to user id's profile in MySQL, then invalidates the
// cached profile so the Toutiao backend and every headline instance read the
// new one. MySQL is the truth: if Redis cannot be reached the update still
// succeeds and the failed invalidation is logged (the old entry then lives
// until its TTL).
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
	if err := p.cache.Invalidate(context.WithoutCancel(ctx), id, p.opts.FreshWindow); err != nil {
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
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.written[id]
	return ok && time.Since(at) < p.opts.FreshWindow
}

// maxPendingInvalidations bounds the ids kept for a retry; past it the
// entries are left to their TTL (and said so in the log).
const maxPendingInvalidations = 100_000

// retryInvalidation keeps id for a later invalidation: while Redis is down,
// an update's old entry would otherwise be served (by headline and the
// Flask app) until its TTL, up to 40 minutes. A goroutine retries every
// second while any are pending and ends when none are. The retry is lost if
// the process stops first.
func (p *Profiles) retryInvalidation(id headline.UserID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) >= maxPendingInvalidations {
		p.log.Error("too many invalidations pending; this one is left to the entry's TTL", "user", id)
		return
	}
	if p.pending == nil {
		p.pending = make(map[headline.UserID]bool)
	}
	p.pending[id] = true
	if p.retrying {
		return
	}
	p.retrying = true
	go func() {
		for {
			time.Sleep(p.opts.InvalidationRetry)
			p.mu.Lock()
			ids := make([]headline.UserID, 0, len(p.pending))
			for id := range p.pending {
				ids = append(ids, id)
			}
			p.mu.Unlock()
			done := 0
			for _, id := range ids {
				if err := p.cache.Invalidate(context.Background(), id, p.opts.FreshWindow); err != nil {
					p.redisError(context.Background(), "invalidate", err)
					break
				}
				p.mu.Lock()
				delete(p.pending, id)
				p.mu.Unlock()
				done++
			}
			if done > 0 {
				p.log.Info("invalidated cache entries of updates made while Redis was down", "users", done)
			}
			p.mu.Lock()
			if len(p.pending) == 0 {
				p.retrying = false
				p.mu.Unlock()
				return
			}
			p.mu.Unlock()
		}
	}()
}
