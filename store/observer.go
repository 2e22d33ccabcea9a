package store

import (
	"errors"
	"time"

	"github.com/headline/headline/store/rediscache"
)

// Observer is told what Profiles does, for metrics. It is declared here,
// where it is used, so that store does not depend on a metrics library; the
// server implements it. Its methods are called on the request path: they
// must be quick and safe for concurrent use.
type Observer interface {
	// CacheLookups reports one batch's read of profile entries, counted by
	// what each held: a profile (hit), nothing (miss), "-1" (negative) or a
	// value of another shape (corrupt, loaded again like a miss). A read that
	// failed reports nothing here, but RedisError("read").
	CacheLookups(hit, miss, negative, corrupt int)
	// RedisError reports one failed Redis call by op: "read" (the MGET, or
	// a poll for another instance's fill), "lease" (taking or releasing
	// leases), "fill" (the write-back), "invalidate" or "apq" (a persisted
	// query read or written, by PersistedQueries). Calls the open
	// circuit breaker kept off Redis are not Redis errors and are not
	// reported.
	RedisError(op string)
	// SQL reports how long one database call of op took: "select_users"
	// (one SELECT … IN) or "update_user" (updateMe's transaction).
	SQL(op string, d time.Duration)
	// APQRegistration reports one registration of a persisted query that
	// this process did not hold yet, by result: "stored", or refused over
	// a budget, "limited_client" or "limited_instance".
	APQRegistration(result string)
}

// nopObserver observes nothing: the default.
type nopObserver struct{}

func (nopObserver) CacheLookups(hit, miss, negative, corrupt int) {}
func (nopObserver) RedisError(op string)                          {}
func (nopObserver) SQL(op string, d time.Duration)                {}
func (nopObserver) APQRegistration(result string)                 {}

// observeLookups reports what the entries of one cache read held.
func (p *Profiles) observeLookups(entries []rediscache.Entry) {
	var hit, miss, negative, corrupt int
	for _, e := range entries {
		switch {
		case e.Kind == rediscache.Hit:
			hit++
		case e.Kind == rediscache.Missing:
			negative++
		case e.Corrupt:
			corrupt++
		default:
			miss++
		}
	}
	p.opts.Observer.CacheLookups(hit, miss, negative, corrupt)
}

// redisError reports a failed Redis call of op, unless the breaker kept it
// off Redis.
func (p *Profiles) redisError(op string, err error) {
	if !errors.Is(err, rediscache.ErrBreakerOpen) {
		p.opts.Observer.RedisError(op)
	}
}

// observeSQL reports the time since start of a database call of op.
func (p *Profiles) observeSQL(op string, start time.Time) {
	p.opts.Observer.SQL(op, time.Since(start))
}
