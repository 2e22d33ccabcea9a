package sqldb

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/headline/headline"
)

// userRow maps the Toutiao backend's user_basic table: only the columns a
// profile needs (the table has many more; see migrations).
type userRow struct {
	bun.BaseModel `bun:"table:user_basic"`

	ID           int64   `bun:"user_id,pk"`
	Name         string  `bun:"user_name"`
	ProfilePhoto *string `bun:"profile_photo"`
	Introduction *string `bun:"introduction"`
	Certificate  *string `bun:"certificate"`
	Status       int8    `bun:"status"`
}

// Account is a user's profile and whether the account is disabled.
type Account struct {
	headline.User
	// Disabled: the status column is 0, which the Toutiao backend answers
	// with "User denied." (`if not status`: anything else is enabled).
	Disabled bool
}

// GetAccounts reads the profiles of ids, with their account status, in one
// SELECT … WHERE user_id IN (…). Ids with no row are absent from the map.
func GetAccounts(ctx context.Context, db bun.IDB, ids []headline.UserID) (map[headline.UserID]*Account, error) {
	users := make(map[headline.UserID]*Account, len(ids))
	if len(ids) == 0 {
		return users, nil
	}
	var rows []userRow
	err := db.NewSelect().
		Model(&rows).
		Column("user_id", "user_name", "profile_photo", "introduction", "certificate", "status").
		Where("user_id IN (?)", bun.List(ids)).
		Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("select %d users: %w", len(ids), err)
	}
	for _, r := range rows {
		users[r.ID] = &Account{
			User:     headline.User{ID: r.ID, Name: r.Name, Photo: r.ProfilePhoto, Intro: r.Introduction, Certi: r.Certificate},
			Disabled: r.Status == 0,
		}
	}
	return users, nil
}
