package store

import (
	"time"

	"github.com/headline/headline"
)

// flight is one load of one id from the database.
type flight struct {
	done   chan struct{}
	doneAt time.Time
	user   *headline.User // nil: no such user
	// disabled: the account is disabled, as its row says (unless another
	// instance's fill answered the load: fills carry no status).
	disabled bool
	err      error
}

// isDone reports whether f has finished; callers hold p.mu, which guards doneAt.
func (f *flight) isDone() bool { return !f.doneAt.IsZero() }

// join registers the ids of a batch that need the database: for each it
// returns the flight that loads it, either one already under way (or
// finished since start) or a new one the caller owns and must complete
// with load. When the cache could not be read, or an id's node is down, any
// load that finished in the last Linger is taken too: with Redis (or one
// cluster node) down, MySQL then sees at most one SELECT per id per Linger
// from each process, instead of one per request. A batch whose read took
// an id's lease owns its load whatever else is under way: only it can fill.
func (p *Profiles) join(b *batch, need []int, start time.Time) (flights map[int]*flight, own map[headline.UserID]*flight) {
	flights = make(map[int]*flight, len(need))
	own = make(map[headline.UserID]*flight)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, i := range need {
		id := b.ids[i]
		f, ok := p.flights[id]
		if !ok || b.lease.Holds(id) || (b.cacheOK && !b.entries[i].Down && f.isDone() && f.doneAt.Before(start)) {
			f = &flight{done: make(chan struct{})}
			p.flights[id] = f
			own[id] = f
		}
		flights[i] = f
	}
	return flights, own
}
