package store

import (
	"time"

	"github.com/headline/headline"
)

// maxPendingInvalidations bounds the ids kept for a retry; past it the
// entries are left to their TTL (and said so in the log).
const maxPendingInvalidations = 100_000

// retryInvalidation keeps id for a later invalidation: while Redis is down,
// an update's old entry would otherwise be served (by headline and the
// Flask app) until its TTL, up to 40 minutes. A goroutine retries every
// InvalidationRetry while any are pending, and ends when none are or when
// Close is called. The retry is lost if the process stops first.
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
	if p.retrying || p.closed {
		return
	}
	p.retrying = true
	p.background.Add(1)
	go p.retryInvalidations()
}

// retryInvalidations is the retry goroutine.
func (p *Profiles) retryInvalidations() {
	defer p.background.Done()
	t := time.NewTicker(p.opts.InvalidationRetry)
	defer t.Stop()
	for {
		select {
		case <-p.closing.Done():
			return
		case <-t.C:
		}
		if !p.invalidatePending() {
			return
		}
	}
}

// invalidatePending tries each pending invalidation once, until one fails,
// and reports whether any are left (if not, the goroutine ends).
func (p *Profiles) invalidatePending() (left bool) {
	p.mu.Lock()
	ids := make([]headline.UserID, 0, len(p.pending))
	for id := range p.pending {
		ids = append(ids, id)
	}
	p.mu.Unlock()
	done := 0
	for _, id := range ids {
		// Close cancels a call under way rather than wait out its timeout.
		ctx := p.closing
		if err := p.cache.Invalidate(ctx, id, p.opts.FreshWindow); err != nil {
			if ctx.Err() == nil {
				p.redisError(ctx, "invalidate", err)
			}
			break
		}
		// Redis's invalidation evicts it too; this is at once.
		p.opts.Local.Invalidate(infoKey(id))
		p.mu.Lock()
		delete(p.pending, id)
		p.mu.Unlock()
		done++
	}
	if done > 0 {
		p.log.Info("invalidated cache entries of updates made while Redis was down", "users", done)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) == 0 {
		p.retrying = false
		return false
	}
	return true
}

// Close stops the background work of p, the retry of failed invalidations,
// and waits for it to end: invalidations still pending are left to their
// entries' TTL. Lookups and updates keep working; an update's failed
// invalidation is then not retried. Close may be called more than once.
func (p *Profiles) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.stop()
	p.background.Wait()
}
