package sqldb_test

import (
	"fmt"
	"strconv"

	"github.com/headline/headline"
	"github.com/headline/headline/store/sqldb"
)

func ptr(s string) *string { return &s }

// showUser renders u with its optional fields dereferenced.
func showUser(u *headline.User) string {
	if u == nil {
		return "<nil>"
	}
	opt := func(p *string) string {
		if p == nil {
			return "null"
		}
		return strconv.Quote(*p)
	}
	return fmt.Sprintf("{ID:%d Name:%q Photo:%s Intro:%s Certi:%s}", u.ID, u.Name, opt(u.Photo), opt(u.Intro), opt(u.Certi))
}

// showAccount is showUser with the account's status.
func showAccount(a *sqldb.Account) string {
	if a == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s Disabled:%v", showUser(&a.User), a.Disabled)
}
