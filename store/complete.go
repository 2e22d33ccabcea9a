package store

import (
	"time"

	"github.com/headline/headline"
)

// complete hands each owned flight its result. A failed load is not shared
// with later requests: the next one tries the database again.
func (p *Profiles) complete(l *loading) {
	p.mu.Lock()
	now := time.Now()
	for id, f := range l.own {
		a := l.found[id]
		f.user, f.disabled = a.user, a.disabled
		if !l.filled[id] {
			f.err = l.err
		}
		f.doneAt = now
		close(f.done)
		if f.err != nil && p.flights[id] == f {
			delete(p.flights, id)
		}
	}
	p.mu.Unlock()
}

// linger keeps the finished flights of own joinable for Linger.
func (p *Profiles) linger(own map[headline.UserID]*flight) {
	time.AfterFunc(p.opts.Linger, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for id, f := range own {
			if p.flights[id] == f {
				delete(p.flights, id)
			}
		}
	})
}
