package store

import (
	"context"
	"errors"
	"time"

	"github.com/headline/headline/store/rediscache"
)

// Observer is told what the store does: the one seam through which metrics,
// the request log's counters and anything else the server adds learn it.
// Each method gets the context of the call it observes (the request's,
// where there is one, including for a load detached from the request's
// cancellation), so that a per-request observer finds its request there.
// It is declared here, where it is used, so that store depends on no
// metrics library. Methods are called on the request path: they must be
// quick and safe for concurrent use. The persisted queries report through a
// narrower interface of theirs (persisted.Observer) that every Observer
// satisfies.
type Observer interface {
	// Batch reports one batch of lookups (a Lookup: the loaders make one
	// per batch) by its number of keys.
	Batch(ctx context.Context, keys int)
	// CacheRead reports what one batch's read of the cache found.
	CacheRead(ctx context.Context, r CacheRead)
	// Joined reports how many of the ids a batch needed from the database
	// another request's load answered (one under way, or finished moments
	// ago): this batch ran no SELECT for them.
	Joined(ctx context.Context, ids int)
	// RedisError reports one failed Redis call by op: "read" (the MGET, or
	// a poll for another instance's fill), "lease" (taking or releasing
	// leases), "fill" (the write-back), "invalidate" or "apq" (a persisted
	// query read or written). Calls the open circuit breaker kept off Redis
	// are not Redis errors and are not reported.
	RedisError(ctx context.Context, op string)
	// SQL reports one database call of op and how long it took:
	// "select_users" (one SELECT … IN) with the rows it read, or
	// "update_user" (updateMe's transaction) with rows 0. A row is reported
	// once, for the batch that read it, not for those that joined its load.
	SQL(ctx context.Context, op string, d time.Duration, rows int)
	// APQRegistration reports one registration of a persisted query that
	// this process did not hold yet, by result: "stored", or refused over
	// a budget, "limited_client" or "limited_instance".
	APQRegistration(ctx context.Context, result string)
}

// CacheRead is what one batch's read of the cache found.
type CacheRead struct {
	// Hit, Miss, Negative and Corrupt count the batch's profile entries
	// read from Redis by what they held: a profile, nothing, "-1" (no such
	// user), or a value of another shape (loaded again like a miss). All
	// are zero when the read failed, which RedisError reports. Entries the
	// local tier answered are not read from Redis and not counted here.
	Hit, Miss, Negative, Corrupt int
	// Answered counts the ids the cache answered (a profile, with its
	// status when that was asked for, or "-1"); Unanswered those that need
	// the database: an entry missed, or the read failed.
	Answered, Unanswered int
	// Local counts, of Answered, the ids the local tier answered alone:
	// their profile, and their status when asked for, came from memory
	// without a Redis round trip. Zero without a local tier.
	Local int
}

// NopObserver observes nothing. Embed it to implement only some methods.
type NopObserver struct{}

func (NopObserver) Batch(context.Context, int)                      {}
func (NopObserver) CacheRead(context.Context, CacheRead)            {}
func (NopObserver) Joined(context.Context, int)                     {}
func (NopObserver) RedisError(context.Context, string)              {}
func (NopObserver) SQL(context.Context, string, time.Duration, int) {}
func (NopObserver) APQRegistration(context.Context, string)         {}

// Observers returns an Observer that tells each of obs (nil ones left out)
// everything, in order.
func Observers(obs ...Observer) Observer {
	var all fanOut
	for _, o := range obs {
		if o != nil {
			all = append(all, o)
		}
	}
	switch len(all) {
	case 0:
		return NopObserver{}
	case 1:
		return all[0]
	}
	return all
}

type fanOut []Observer

func (f fanOut) Batch(ctx context.Context, keys int) {
	for _, o := range f {
		o.Batch(ctx, keys)
	}
}

func (f fanOut) CacheRead(ctx context.Context, r CacheRead) {
	for _, o := range f {
		o.CacheRead(ctx, r)
	}
}

func (f fanOut) Joined(ctx context.Context, ids int) {
	for _, o := range f {
		o.Joined(ctx, ids)
	}
}

func (f fanOut) RedisError(ctx context.Context, op string) {
	for _, o := range f {
		o.RedisError(ctx, op)
	}
}

func (f fanOut) SQL(ctx context.Context, op string, d time.Duration, rows int) {
	for _, o := range f {
		o.SQL(ctx, op, d, rows)
	}
}

func (f fanOut) APQRegistration(ctx context.Context, result string) {
	for _, o := range f {
		o.APQRegistration(ctx, result)
	}
}

// observeRead reports what the batch's cache read found; need is how many
// of its ids need the database.
func (p *Profiles) observeRead(ctx context.Context, b *batch, need int) {
	r := CacheRead{Answered: len(b.ids) - need, Unanswered: need}
	for i, e := range b.entries {
		if b.localProfile != nil && b.localProfile[i] {
			if !b.redisStatus[i] {
				r.Local++
			}
			continue
		}
		if b.cacheOK {
			switch {
			case e.Kind == rediscache.Hit:
				r.Hit++
			case e.Kind == rediscache.Missing:
				r.Negative++
			case e.Corrupt:
				r.Corrupt++
			default:
				r.Miss++
			}
		}
	}
	p.opts.Observer.CacheRead(ctx, r)
}

// redisError reports a failed Redis call of op, unless the breaker kept it
// off Redis.
func (p *Profiles) redisError(ctx context.Context, op string, err error) {
	if !errors.Is(err, rediscache.ErrBreakerOpen) {
		p.opts.Observer.RedisError(ctx, op)
	}
}

// observeSQL reports a database call of op that started at start.
func (p *Profiles) observeSQL(ctx context.Context, op string, start time.Time, rows int) {
	p.opts.Observer.SQL(ctx, op, time.Since(start), rows)
}
