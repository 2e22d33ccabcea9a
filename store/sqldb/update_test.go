package sqldb_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/uptrace/bun"

	"github.com/headline/headline"
	"github.com/headline/headline/store/sqldb"
	"github.com/headline/headline/store/storetest"
)

// sessionDB opens a second pool onto the package's MySQL database whose
// connections run with the DSN parameters params (e.g. a sql_mode).
func sessionDB(t *testing.T, params string) *bun.DB {
	t.Helper()
	var name string
	if err := storetest.DB(t, "sqldb").QueryRowContext(context.Background(), "SELECT DATABASE()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	cfg, err := mysql.ParseDSN(os.Getenv(storetest.MySQLEnv))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = name
	dsn := cfg.FormatDSN()
	if params != "" {
		if strings.Contains(dsn, "?") {
			dsn += "&" + params
		} else {
			dsn += "?" + params
		}
	}
	db, err := sqldb.OpenMySQL(dsn, sqldb.PoolOptions{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestUpdateUserStoresExactlyOrNothing(t *testing.T) {
	if os.Getenv(storetest.MySQLEnv) == "" {
		t.Skip("the sessions that alter a string are MySQL's")
	}
	ctx := context.Background()
	base := storetest.DB(t, "sqldb")
	set := func(s string) headline.Change[*string] { return headline.Change[*string]{Set: true, Value: &s} }
	first := storetest.IDs(t, 4) // case i updates user first+i
	for i, tc := range []struct {
		name   string
		params string // of the session the update runs on
		upd    headline.ProfileUpdate
		// refused: the session would store something else, so the update
		// fails and the row keeps what it had.
		refused bool
	}{
		{"a backslash on the default session is stored as sent", "",
			headline.ProfileUpdate{Intro: set(`C:\dir\`)}, false},
		{"an emoji on the default session (utf8mb4) is stored as sent", "",
			headline.ProfileUpdate{Name: set(fmt.Sprintf("x\U0001f642 %d", first+1))}, false},
		{"a backslash under NO_BACKSLASH_ESCAPES would be stored doubled", "sql_mode=%27NO_BACKSLASH_ESCAPES%27",
			headline.ProfileUpdate{Intro: set(`C:\dir\`)}, true},
		{"an emoji on a utf8mb3 session without strict mode would be stored as ?", "charset=utf8&sql_mode=%27%27",
			headline.ProfileUpdate{Name: set(fmt.Sprintf("x\U0001f642 %d", first+3))}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := first + int64(i)
			before := headline.User{ID: id, Name: "n" + strconv.FormatInt(id, 10), Intro: ptr("intro"), Photo: ptr("https://x/p.png")}
			if _, err := base.NewDelete().Table("user_basic").Where("user_id = ?", id).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if err := sqldb.InsertUsers(ctx, base, before); err != nil {
				t.Fatal(err)
			}
			got, err := sqldb.UpdateUser(ctx, sessionDB(t, tc.params), id, tc.upd)
			stored, rerr := sqldb.GetAccounts(ctx, base, []headline.UserID{id})
			if rerr != nil {
				t.Fatal(rerr)
			}
			want := sqldb.Account{User: before} // enabled
			if !tc.refused {
				if err != nil {
					t.Fatalf("UpdateUser: %v", err)
				}
				if tc.upd.Name.Set {
					want.Name = *tc.upd.Name.Value
				}
				if tc.upd.Intro.Set {
					want.Intro = tc.upd.Intro.Value
				}
				if storetest.ShowUser(got) != storetest.ShowUser(&want.User) {
					t.Errorf("UpdateUser answered %s, want %s", storetest.ShowUser(got), storetest.ShowUser(&want.User))
				}
			} else {
				if err == nil {
					t.Fatalf("UpdateUser answered %s, want an error: the row would not hold what was sent", storetest.ShowUser(got))
				}
				if e, ok := errors.AsType[*headline.Error](err); ok && e.Code != headline.ECodeInternal {
					t.Errorf("error code %s, want %s: %v", e.Code, headline.ECodeInternal, err)
				}
				t.Logf("refused with: %v", err)
			}
			if showAccount(stored[id]) != showAccount(&want) {
				t.Errorf("MySQL has %s, want %s", showAccount(stored[id]), showAccount(&want))
			}
		})
	}
}
