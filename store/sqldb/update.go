package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/uptrace/bun"

	"github.com/headline/headline"
)

// UpdateUser applies upd (already normalized) to user id and returns the row
// as stored, in one transaction. A name another user has is refused as
// BAD_USER_INPUT, detected from the unique key's error rather than checked
// first, which two concurrent renames could both pass.
func UpdateUser(ctx context.Context, db bun.IDB, id headline.UserID, upd headline.ProfileUpdate) (user *headline.User, err error) {
	// InnoDB may settle two concurrent writes of one unique name with a
	// deadlock (1213) rather than a duplicate key (1062): the victim's
	// transaction is rolled back whole and is safe to run again, when it
	// then meets the duplicate key.
	for attempt := 1; ; attempt++ {
		user, err = updateUser(ctx, db, id, upd)
		if attempt == 3 || !isDeadlock(err) {
			return user, err
		}
	}
}

func updateUser(ctx context.Context, db bun.IDB, id headline.UserID, upd headline.ProfileUpdate) (*headline.User, error) {
	var user *headline.User
	err := db.RunInTx(ctx, &sql.TxOptions{}, func(ctx context.Context, tx bun.Tx) error {
		q := tx.NewUpdate().Table("user_basic").Where("user_id = ?", id)
		n := 0
		for _, c := range []struct {
			col string
			ch  headline.Change[*string]
		}{{"user_name", upd.Name}, {"introduction", upd.Intro}, {"profile_photo", upd.Photo}} {
			if c.ch.Set {
				q = q.Set("? = ?", bun.Ident(c.col), c.ch.Value)
				n++
			}
		}
		if n > 0 {
			if _, err := q.Exec(ctx); err != nil {
				if isDuplicateName(err) {
					return headline.BadInput("name", "name: %q is already taken", *upd.Name.Value)
				}
				return fmt.Errorf("update user %d: %w", id, err)
			}
		}
		accounts, err := GetAccounts(ctx, tx, []headline.UserID{id})
		if err != nil {
			return err
		}
		a := accounts[id]
		if a == nil {
			return headline.ErrNoSuchUser
		}
		user = &a.User
		return storedAsSent(user, upd)
	})
	return user, err
}

// storedAsSent checks that the row read back holds exactly what upd set, so
// that an update is never answered with something other than what was
// accepted. bun's MySQL dialect writes each value as a string literal the
// server parses (and drops NUL from it, which Normalize refuses for that
// reason); on the default session this round-trips every valid UTF-8
// string, but with NO_BACKSLASH_ESCAPES in sql_mode a backslash is stored
// twice, and on a connection whose character set lacks a character (utf8mb3
// and an emoji) it becomes '?' unless strict mode refuses it. Such an update
// is rolled back. (A latin1 connection stores UTF-8 double-encoded and reads
// it back the same way: only the operator's DSN can prevent that; the
// driver's default, utf8mb4, is right.)
func storedAsSent(u *headline.User, upd headline.ProfileUpdate) error {
	for _, c := range []struct {
		col    string
		ch     headline.Change[*string]
		stored *string
	}{{"user_name", upd.Name, &u.Name}, {"introduction", upd.Intro, u.Intro}, {"profile_photo", upd.Photo, u.Photo}} {
		if !c.ch.Set {
			continue
		}
		if (c.ch.Value == nil) != (c.stored == nil) || (c.stored != nil && *c.stored != *c.ch.Value) {
			return fmt.Errorf("update user %d: %s was stored as %s, not as the %s sent: "+
				"check the connection's character set (utf8mb4) and sql_mode (no NO_BACKSLASH_ESCAPES)",
				u.ID, c.col, quoteOrNull(c.stored), quoteOrNull(c.ch.Value))
		}
	}
	return nil
}

func quoteOrNull(p *string) string {
	if p == nil {
		return "NULL"
	}
	return strconv.QuoteToASCII(*p)
}

// isDeadlock reports whether err is InnoDB choosing this transaction as a
// deadlock's victim.
func isDeadlock(err error) bool {
	me, ok := errors.AsType[*mysql.MySQLError](err)
	return ok && me.Number == 1213
}

// isDuplicateName reports whether err is the unique key on user_name
// refusing a row: MySQL's error 1062, or SQLite's constraint error.
func isDuplicateName(err error) bool {
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok {
		return me.Number == 1062 && strings.Contains(me.Message, "user_name")
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed: user_basic.user_name")
}
