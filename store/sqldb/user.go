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

// GetUsers reads the profiles of ids, with their account status, in one
// SELECT … WHERE user_id IN (…). Ids with no row are absent from the map.
func GetUsers(ctx context.Context, db bun.IDB, ids []headline.UserID) (map[headline.UserID]*headline.User, error) {
	users := make(map[headline.UserID]*headline.User, len(ids))
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
		users[r.ID] = &headline.User{
			ID: r.ID, Name: r.Name, Photo: r.ProfilePhoto, Intro: r.Introduction, Certi: r.Certificate,
			Status: statusOf(r.Status),
		}
	}
	return users, nil
}

// statusOf reads the status column: 0 is disabled, anything else enabled,
// as the Toutiao backend's `if not status` check has it.
func statusOf(v int8) headline.AccountStatus {
	if v == 0 {
		return headline.StatusDisabled
	}
	return headline.StatusEnabled
}
