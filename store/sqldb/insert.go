package sqldb

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/headline/headline"
)

// newUserRow is a user_basic row as a sign-up writes it: the profile plus the
// NOT NULL columns without defaults.
type newUserRow struct {
	bun.BaseModel `bun:"table:user_basic"`

	ID           int64   `bun:"user_id,pk"`
	Mobile       string  `bun:"mobile"`
	Name         string  `bun:"user_name"`
	ProfilePhoto *string `bun:"profile_photo"`
	Introduction *string `bun:"introduction"`
	Certificate  *string `bun:"certificate"`
	Status       int8    `bun:"status,type:tinyint"`
}

// InsertUsers adds users with the ids they carry, enabled, each with a
// made-up mobile number derived from its id (the column is NOT NULL UNIQUE).
// It is for the embedded mode's demo data and for tests.
func InsertUsers(ctx context.Context, db bun.IDB, users ...headline.User) error {
	if len(users) == 0 {
		return nil
	}
	rows := make([]newUserRow, len(users))
	for i, u := range users {
		rows[i] = newUserRow{
			ID: u.ID, Mobile: fmt.Sprintf("1%010d", u.ID%1e10), Name: u.Name,
			ProfilePhoto: u.Photo, Introduction: u.Intro, Certificate: u.Certi, Status: 1,
		}
	}
	if _, err := db.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return fmt.Errorf("insert %d users: %w", len(users), err)
	}
	return nil
}
