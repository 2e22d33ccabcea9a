package sqldb_test

import (
	"fmt"

	"github.com/headline/headline/store/sqldb"
	"github.com/headline/headline/store/storetest"
)

func ptr(s string) *string { return &s }

// showAccount is showUser with the account's status.
func showAccount(a *sqldb.Account) string {
	if a == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s Disabled:%v", storetest.ShowUser(&a.User), a.Disabled)
}
