package store

import (
	"context"

	"github.com/headline/headline"
	"github.com/headline/headline/store/rediscache"
)

// loading is one load of the ids a batch owns, as it goes through its
// steps. (The batch is handed to the steps beside it, not kept in it: what
// a load finds outlives it in the flights, and the batch need not.)
type loading struct {
	own map[headline.UserID]*flight
	ids []headline.UserID // the owned ids
	// cacheOK: the cache answered the batch and its leases; false, nothing
	// is written back.
	cacheOK bool
	lease   rediscache.Lease
	// found holds what was loaded: a profile (nil for no such user) and
	// whether the account is disabled.
	found map[headline.UserID]account
	// filled marks the ids another instance's fill answered: not selected.
	filled    map[headline.UserID]bool
	selectIDs []headline.UserID
	err       error // the SELECT's
}

// account is what a load found of one id.
type account struct {
	user     *headline.User // nil: no such user
	disabled bool
}

// load loads the owned ids: it acquires the leases of the profiles that
// missed, awaits the fills of ids whose lease another instance holds,
// selects the rest in one SELECT, writes them back under its leases, and
// completes the flights, which stay joinable a while. The load is detached from ctx's cancellation, since
// other requests wait for it too, and bounded by LoadTimeout instead.
func (p *Profiles) load(ctx context.Context, b *batch, own map[headline.UserID]*flight) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.LoadTimeout)
	defer cancel()
	l := &loading{own: own, cacheOK: b.cacheOK}
	p.acquire(ctx, l, b)
	p.awaitFills(ctx, l, b)
	p.selectRows(ctx, l)
	p.writeBack(ctx, l, b)
	p.complete(l)
	p.linger(own)
}
