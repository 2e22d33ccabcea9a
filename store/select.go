package store

import (
	"context"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/store/sqldb"
)

// selectRows reads the owned ids no fill answered in one SELECT. One id
// updated lately (by this process, or by any, as its lease pipeline said)
// sends the whole SELECT to the primary.
func (p *Profiles) selectRows(ctx context.Context, l *loading) {
	fresh := false
	for _, id := range l.ids {
		if !l.filled[id] {
			l.selectIDs = append(l.selectIDs, id)
			fresh = fresh || l.lease.Written[id] || p.writtenLately(id)
		}
	}
	if len(l.selectIDs) == 0 {
		return
	}
	start := time.Now()
	rows, err := p.selectUsers(ctx, l.selectIDs, fresh)
	p.observeSQL(ctx, "select_users", start, len(rows))
	for id, a := range rows {
		l.found[id] = account{user: &a.User, disabled: a.Disabled}
	}
	l.err = err
}

// selectUsers reads ids in one SELECT: from the primary when fresh, else
// from a replica if there is one (and from the primary if that replica
// fails).
func (p *Profiles) selectUsers(ctx context.Context, ids []headline.UserID, fresh bool) (map[headline.UserID]*sqldb.Account, error) {
	if fresh {
		ctx = sqldb.OnPrimary(ctx)
	}
	var accounts map[headline.UserID]*sqldb.Account
	err := p.opts.Replicas.Read(ctx, func(ctx context.Context) error {
		var err error
		accounts, err = sqldb.GetAccounts(ctx, p.db, ids)
		return err
	})
	return accounts, err
}
