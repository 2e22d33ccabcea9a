package api

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun/dialect"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/sqldb"
	"github.com/headline/headline/store/storetest"
)

// storedRow reads user id from MySQL, uncached; nil when there is no row.
func (s *testServer) storedRow(t testing.TB, id int64) *sqldb.Account {
	t.Helper()
	accounts, err := sqldb.GetAccounts(context.Background(), s.Base, []headline.UserID{id})
	if err != nil {
		t.Fatalf("read user %d: %v", id, err)
	}
	return accounts[id]
}

// storedUser is the profile of storedRow.
func (s *testServer) storedUser(t testing.TB, id int64) *headline.User {
	t.Helper()
	if a := s.storedRow(t, id); a != nil {
		return &a.User
	}
	return nil
}

// enabled is the row of u's enabled account.
func enabled(u headline.User) *sqldb.Account { return &sqldb.Account{User: u} }

func showOpt(p *string) string {
	if p == nil {
		return "null"
	}
	return strconv.Quote(*p)
}

func showJSON(u *servertest.User) string {
	if u == nil {
		return "null"
	}
	return fmt.Sprintf("{id:%s name:%q photo:%s intro:%s certi:%s}", u.ID, u.Name, showOpt(u.Photo), showOpt(u.Intro), showOpt(u.Certi))
}

// asJSON renders a stored user as the API shows it.
func asJSON(u *headline.User) *servertest.User {
	if u == nil {
		return nil
	}
	return &servertest.User{ID: strconv.FormatInt(u.ID, 10), Name: u.Name, Photo: u.Photo, Intro: u.Intro, Certi: u.Certi}
}

// updateProfile is a user as the update tests start it: every field set.
func updateProfile(id int64) headline.User {
	return headline.User{
		ID:    id,
		Name:  fmt.Sprintf("m%d", id),
		Photo: servertest.Ptr(fmt.Sprintf("https://img.example.com/%d.png", id)),
		Intro: servertest.Ptr(fmt.Sprintf("intro %d", id)),
		Certi: servertest.Ptr("certi"),
	}
}

// wantRefused checks that r is a null updateMe with an error of code at
// path updateMe, naming field when field is not "", with msg in its message.
func wantRefused(t *testing.T, r servertest.Response, code, field, msg string) {
	t.Helper()
	if r.Status != 200 {
		t.Errorf("HTTP status %d, want 200: %s", r.Status, r.Raw)
	}
	if len(r.Errors) != 1 {
		t.Errorf("want exactly one error: %s", r.Raw)
	}
	e := r.ErrorAt(t, "updateMe")
	if got, _ := e.Extensions["code"].(string); got != code {
		t.Errorf("code = %q, want %q: %s", got, code, r.Raw)
	}
	if field != "" {
		if got, _ := e.Extensions["field"].(string); got != field {
			t.Errorf("extensions.field = %q, want %q: %s", got, field, r.Raw)
		}
	}
	if !strings.Contains(e.Message, msg) {
		t.Errorf("message %q does not say %q", e.Message, msg)
	}
	if raw, ok := r.Data["updateMe"]; ok && string(raw) != "null" {
		t.Errorf("updateMe = %s, want null", raw)
	}
}

// updateCase is an updateMe input, sent as a user that starts as
// updateProfile.
type updateCase struct {
	name string
	in   map[string]any
	// want changes the starting profile into the one stored; nil: the
	// input is refused with BAD_USER_INPUT naming field, with msg in its
	// message, and the row keeps every byte.
	want       func(u *headline.User)
	field, msg string
}

// runUpdateCases takes rows ids, first onwards, and runs each of
// cases(first) as a subtest: check(t, first+i, tc) for the i-th.
func (s *testServer) runUpdateCases(t *testing.T, rows int, cases func(first int64) []updateCase, check func(t *testing.T, id int64, tc updateCase)) {
	t.Helper()
	first := storetest.IDs(t, rows)
	for i, tc := range cases(first) {
		t.Run(tc.name, func(t *testing.T) {
			if i >= rows {
				t.Fatalf("row %d is past the %d ids this test took", i, rows)
			}
			check(t, first+int64(i), tc)
		})
	}
}

func TestUpdateMeValidation(t *testing.T) {
	s := newTestServer(t)
	// Each case is a user of its own, one of 30 ids.
	s.runUpdateCases(t, 30, validationCases, s.checkValidation)
}

// validationCases are the inputs, the i-th for user first+i; the names
// they set end in that user's id, n(i).
func validationCases(first int64) []updateCase {
	cjk := func(n int) string { return strings.Repeat("界", n) }
	photo128 := "https://x/" + strings.Repeat("p", 128-len("https://x/"))
	n := func(i int64) string { return fmt.Sprint(first + i) }
	return []updateCase{
		{name: "name omitted: the other fields change, the name stays",
			in: map[string]any{"intro": "only the intro"}, want: func(u *headline.User) { u.Intro = servertest.Ptr("only the intro") }},
		{name: "name unchanged: the user's own name is not taken",
			in: map[string]any{"name": "m" + n(1)}, want: func(u *headline.User) {}},
		{name: "an empty input changes nothing and answers the profile",
			in: map[string]any{}, want: func(u *headline.User) {}},
		{name: "name null is refused: a name cannot be cleared",
			in: map[string]any{"name": nil}, field: "name", msg: "cannot be cleared"},
		{name: "name empty is refused",
			in: map[string]any{"name": ""}, field: "name", msg: "must not be empty"},
		{name: "name of spaces only is refused",
			in: map[string]any{"name": "   "}, field: "name", msg: "must not be empty"},
		{name: "name of tabs, newlines and ideographic spaces is refused",
			in: map[string]any{"name": "\t\n\u3000 "}, field: "name", msg: "must not be empty"},
		{name: "name of 32 CJK characters (96 bytes) is accepted",
			in: map[string]any{"name": cjk(32)}, want: func(u *headline.User) { u.Name = cjk(32) }},
		{name: "name of 33 CJK characters is refused",
			in: map[string]any{"name": cjk(33)}, field: "name", msg: "at most 32 characters"},
		{name: "name of 33 ASCII characters is refused",
			in: map[string]any{"name": strings.Repeat("a", 33)}, field: "name", msg: "at most 32 characters"},
		{name: "surrounding spaces are trimmed before storing",
			in: map[string]any{"name": "  trimmed " + n(10) + " \t"}, want: func(u *headline.User) { u.Name = "trimmed " + n(10) }},
		{name: "32 characters between spaces are accepted: the limit counts the trimmed name",
			in:   map[string]any{"name": "  " + "n" + n(11) + "-" + strings.Repeat("b", 32-len("n"+n(11)+"-")) + "  "},
			want: func(u *headline.User) { u.Name = "n" + n(11) + "-" + strings.Repeat("b", 32-len("n"+n(11)+"-")) }},
		{name: "intro of 50 CJK characters is accepted",
			in: map[string]any{"intro": cjk(50)}, want: func(u *headline.User) { u.Intro = servertest.Ptr(cjk(50)) }},
		{name: "intro of 51 CJK characters is refused",
			in: map[string]any{"intro": cjk(51)}, field: "intro", msg: "at most 50 characters"},
		{name: "intro null clears it",
			in: map[string]any{"intro": nil}, want: func(u *headline.User) { u.Intro = nil }},
		{name: "photo https://x/y.png is accepted",
			in: map[string]any{"photo": "https://x/y.png"}, want: func(u *headline.User) { u.Photo = servertest.Ptr("https://x/y.png") }},
		{name: "photo over http is accepted",
			in: map[string]any{"photo": "http://img.example.com/a.png"}, want: func(u *headline.User) { u.Photo = servertest.Ptr("http://img.example.com/a.png") }},
		{name: "photo of 128 characters is accepted",
			in: map[string]any{"photo": photo128}, want: func(u *headline.User) { u.Photo = servertest.Ptr(photo128) }},
		{name: "photo of 129 characters is refused",
			in: map[string]any{"photo": photo128 + "p"}, field: "photo", msg: "at most 128 characters"},
		{name: "photo ftp://x is refused",
			in: map[string]any{"photo": "ftp://x"}, field: "photo", msg: "http or https"},
		{name: "photo javascript:alert(1) is refused",
			in: map[string]any{"photo": "javascript:alert(1)"}, field: "photo", msg: "http or https"},
		{name: "photo 'not a url' is refused",
			in: map[string]any{"photo": "not a url"}, field: "photo", msg: "http or https"},
		{name: "photo https:// without a host is refused",
			in: map[string]any{"photo": "https:///y.png"}, field: "photo", msg: "http or https"},
		{name: "photo null clears it",
			in: map[string]any{"photo": nil}, want: func(u *headline.User) { u.Photo = nil }},
		{name: "all three at once",
			in:   map[string]any{"name": "all " + n(25), "intro": "hi", "photo": nil},
			want: func(u *headline.User) { u.Name, u.Intro, u.Photo = "all "+n(25), servertest.Ptr("hi"), nil }},
		{name: "a valid name with a refused photo changes nothing",
			in: map[string]any{"name": "never " + n(26), "photo": "ftp://x"}, field: "photo", msg: "http or https"},
	}
}

// checkValidation sends tc's input as user id and checks the answer and
// the row.
func (s *testServer) checkValidation(t *testing.T, id int64, tc updateCase) {
	before := updateProfile(id)
	s.ReplaceUsers(t, before)
	r := s.UpdateMe(t, id, tc.in)
	stored := s.storedRow(t, id)
	if tc.want == nil {
		wantRefused(t, r, headline.ECodeBadInput, tc.field, tc.msg)
		if showRow(stored) != showRow(enabled(before)) {
			t.Errorf("a refused update changed the row: %s, want %s", showRow(stored), showRow(enabled(before)))
		}
		return
	}
	want := before
	tc.want(&want)
	if len(r.Errors) > 0 {
		t.Fatalf("refused: %s", r.Raw)
	}
	if got := r.User(t, "updateMe"); showJSON(got) != showJSON(asJSON(&want)) {
		t.Errorf("updateMe = %s, want %s", showJSON(got), showJSON(asJSON(&want)))
	}
	if showRow(stored) != showRow(enabled(want)) {
		t.Errorf("MySQL has %s, want %s", showRow(stored), showRow(enabled(want)))
	}
	if strings.Contains(r.Raw, `"intro":null`) != (want.Intro == nil) || strings.Contains(r.Raw, `"photo":null`) != (want.Photo == nil) {
		t.Errorf("null fields of the response do not match the row: %s", r.Raw)
	}
}

// Two renames at once, to a name nobody has, and to a name another user
// gave up just before (its entry in the unique index is then still
// there, delete-marked, until InnoDB purges it). Round k uses ids
// first+3k (x), first+3k+1 (y) and first+3k+2 (the holder).
func (s *testServer) contest(t *testing.T, first int64, rounds int, freed bool) {
	var faults []string
	for k := range int64(rounds) {
		x, y := updateProfile(first+3*k), updateProfile(first+3*k+1)
		s.ReplaceUsers(t, x, y)
		name := fmt.Sprintf("contested %d", first+3*k)
		if freed {
			holder := updateProfile(first + 3*k + 2)
			holder.Name = name
			s.ReplaceUsers(t, holder)
			if r := s.UpdateMe(t, holder.ID, map[string]any{"name": fmt.Sprintf("gave up %d", holder.ID)}); len(r.Errors) > 0 {
				t.Fatalf("round %d: the holder could not give the name up: %s", k, r.Raw)
			}
		}
		ids := []int64{x.ID, y.ID}
		rs := make([]servertest.Response, 2)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for j, id := range ids {
			wg.Go(func() {
				<-start
				rs[j] = s.UpdateMe(t, id, map[string]any{"name": name})
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for j, r := range rs {
			if len(r.Errors) == 0 {
				winners++
				if u := r.User(t, "updateMe"); u == nil || u.Name != name {
					t.Errorf("round %d: winner %d answered %s", k, ids[j], showJSON(u))
				}
				continue
			}
			if r.Code("updateMe") != headline.ECodeBadInput {
				faults = append(faults, fmt.Sprintf("round %d: the losing rename of %d got %s", k, ids[j], r.Raw))
			} else {
				wantRefused(t, r, headline.ECodeBadInput, "name", "already taken")
			}
			if got, want := s.storedRow(t, ids[j]).Name, fmt.Sprintf("m%d", ids[j]); got != want {
				t.Errorf("round %d: the loser %d is named %q, want %q", k, ids[j], got, want)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d renames to %q succeeded, want exactly 1:\n%s\n%s", k, winners, name, rs[0].Raw, rs[1].Raw)
		}
		var n int
		if err := s.Base.NewSelect().Table("user_basic").ColumnExpr("COUNT(*)").Where("user_name = ?", name).Scan(context.Background(), &n); err != nil || n != 1 {
			t.Errorf("round %d: %d rows named %q (%v), want 1", k, n, name, err)
		}
	}
	if len(faults) > 0 {
		t.Errorf("BUG: in %d of %d rounds the losing rename was not BAD_USER_INPUT. On MariaDB, InnoDB's duplicate check "+
			"on the unique key user_name can end in a deadlock (Error 1213) instead of a duplicate (1062), and "+
			"sqldb.UpdateUser maps only 1062 to \"already taken\": the loser gets INTERNAL_SERVER_ERROR. A deadlock "+
			"victim's transaction should be retried (it then fails with 1062). First: %s", len(faults), rounds, faults[0])
	}
}

// showRow renders a with its optional fields dereferenced.
func showRow(a *sqldb.Account) string {
	if a == nil {
		return "<nil>"
	}
	return fmt.Sprintf("{ID:%d Name:%q Photo:%s Intro:%s Certi:%s Disabled:%v}", a.ID, a.Name, showOpt(a.Photo), showOpt(a.Intro), showOpt(a.Certi), a.Disabled)
}

func TestUpdateMeNameTaken(t *testing.T) {
	s := newTestServer(t)
	c := &nameTaken{s: s}
	t.Run("a name another user has is BAD_USER_INPUT already taken, and nothing changes", c.taken)
	t.Run("two renames waiting on another transaction's row with the name: one wins, the other is told it is taken", c.waitingOnAnother)
	t.Run("two concurrent renames to the same new name: exactly one wins, the other is told it is taken", c.sameNewName)
	t.Run("two concurrent renames to a name just given up: exactly one wins, the other is told it is taken", c.nameGivenUp)
}

// nameTaken is TestUpdateMeNameTaken's server.
type nameTaken struct {
	s *testServer
}

func (c *nameTaken) taken(t *testing.T) {
	s := c.s
	id := storetest.IDs(t, 2)
	a, b := updateProfile(id), updateProfile(id+1)
	s.ReplaceUsers(t, a, b)
	for _, name := range []string{a.Name, "  " + a.Name + " "} {
		r := s.UpdateMe(t, b.ID, map[string]any{"name": name, "intro": "changed too"})
		wantRefused(t, r, headline.ECodeBadInput, "name", "already taken")
		if got := s.storedRow(t, b.ID); showRow(got) != showRow(enabled(b)) {
			t.Errorf("after a refused rename to %q the row is %s, want %s (the transaction rolls back)", name, showRow(got), showRow(enabled(b)))
		}
	}
}

func (c *nameTaken) waitingOnAnother(t *testing.T) {
	s := c.s
	// The InnoDB case made deterministic: a third transaction (the
	// Flask app's sign-up, say) holds a row with the name, uncommitted;
	// both renames wait for it in the unique key's duplicate check;
	// it rolls back; both waiters then hold a shared lock on the
	// entry and both need an exclusive one.
	if s.Base.Dialect().Name() != dialect.MySQL {
		t.Skip("needs InnoDB's row locks: the embedded SQLite serializes writers")
	}
	ctx := context.Background()
	id := storetest.IDs(t, 3)
	x, y := updateProfile(id), updateProfile(id+1)
	s.ReplaceUsers(t, x, y)
	if _, err := s.Base.NewDelete().Table("user_basic").Where("user_id = ?", id+2).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("contested %d", id)
	tx, err := s.Base.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := sqldb.InsertUsers(ctx, tx, headline.User{ID: id + 2, Name: name}); err != nil {
		t.Fatal(err)
	}
	ids := []int64{x.ID, y.ID}
	rs := make([]servertest.Response, 2)
	var wg sync.WaitGroup
	for j, id := range ids {
		wg.Go(func() { rs[j] = s.UpdateMe(t, id, map[string]any{"name": name}) })
	}
	// Both renames wait on the uncommitted row before it goes away.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		err := s.Base.NewSelect().TableExpr("information_schema.PROCESSLIST").ColumnExpr("COUNT(*)").
			Where("info LIKE ?", "UPDATE%"+name+"%").Scan(ctx, &n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d renames are waiting after 10s, want 2", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	winners := 0
	for j, r := range rs {
		if len(r.Errors) == 0 {
			winners++
			continue
		}
		if r.Code("updateMe") != headline.ECodeBadInput {
			t.Errorf("BUG: the losing rename of %d got %s; want BAD_USER_INPUT \"already taken\". InnoDB ended it with a "+
				"deadlock (Error 1213, see the server log above), which sqldb.UpdateUser does not retry or map: "+
				"only 1062 is \"already taken\"", ids[j], r.Raw)
			continue
		}
		wantRefused(t, r, headline.ECodeBadInput, "name", "already taken")
	}
	if winners != 1 {
		t.Errorf("%d renames to %q succeeded, want exactly 1:\n%s\n%s", winners, name, rs[0].Raw, rs[1].Raw)
	}
}

func (c *nameTaken) sameNewName(t *testing.T) {
	s := c.s
	s.contest(t, storetest.IDs(t, 3*30), 30, false)
}

func (c *nameTaken) nameGivenUp(t *testing.T) {
	s := c.s
	s.contest(t, storetest.IDs(t, 3*100), 100, true)
}

func TestUpdateMeWhoMayUpdate(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	id := storetest.IDs(t, 3)
	u := updateProfile(id)
	disabled := updateProfile(id + 1)
	s.ReplaceUsers(t, u, disabled)
	if _, err := s.Base.NewUpdate().Table("user_basic").Set("status = 0").Where("user_id = ?", disabled.ID).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	in := map[string]any{"in": map[string]any{"name": fmt.Sprintf("intruder %d", id), "intro": nil}}
	for _, tc := range []struct {
		name    string
		headers []string
		code    string
		msg     string
	}{
		{"no token is UNAUTHENTICATED", nil, headline.ECodeUnauthenticated, "User must be authorized."},
		{"a refresh token is UNAUTHENTICATED",
			[]string{"Authorization", "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: u.ID, Claims: map[string]any{"refresh": true}, TTL: 14 * 24 * time.Hour})},
			headline.ECodeUnauthenticated, "Do not use refresh token."},
		{"an expired access token is UNAUTHENTICATED",
			[]string{"Authorization", "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: u.ID, TTL: -time.Hour})},
			headline.ECodeUnauthenticated, "User must be authorized"},
		{"a token signed with another secret is UNAUTHENTICATED",
			[]string{"Authorization", "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: u.ID, Secret: "not-the-secret"})},
			headline.ECodeUnauthenticated, "User must be authorized"},
		{"a token naming no user is UNAUTHENTICATED",
			[]string{"Authorization", "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: id + 2})},
			headline.ECodeUnauthenticated, "User must be authorized."},
		{"a disabled account (status 0) is FORBIDDEN",
			[]string{"Authorization", "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: disabled.ID})},
			headline.ECodeForbidden, "User denied."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.ResetCounts()
			r := s.Post(t, servertest.UpdateQuery, in, tc.headers...)
			wantRefused(t, r, tc.code, "", tc.msg)
			if n := s.SQL.Count("UPDATE"); n != 0 {
				t.Errorf("ran %d UPDATEs: %q", n, s.SQL.Queries())
			}
			for _, u := range []headline.User{u, disabled} {
				want := &sqldb.Account{User: u, Disabled: u.ID == disabled.ID}
				if got := s.storedRow(t, want.ID); showRow(got) != showRow(want) {
					t.Errorf("user %d is now %s, want it unchanged", want.ID, showRow(got))
				}
			}
		})
	}
}

func TestUpdateMeInvalidatesTheCache(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()

	check := func(t *testing.T, id int64, r servertest.Response, want *servertest.User) {
		t.Helper()
		if len(r.Errors) > 0 {
			t.Fatalf("updateMe refused: %s", r.Raw)
		}
		if got := r.User(t, "updateMe"); showJSON(got) != showJSON(want) {
			t.Errorf("updateMe = %s, want %s", showJSON(got), showJSON(want))
		}
		if p, raw, ok := servertest.CachedInfo(t, s.Redis.Raw, id); ok && showJSON(&p) != showJSON(want) {
			t.Errorf("after the update %s = %s, want it gone or the new profile", rediscache.ProfileKey(id), raw)
		}
		if n, err := s.Redis.Raw.Exists(ctx, rediscache.LeaseKey(id)).Result(); err != nil || n != 0 {
			t.Errorf("%s exists = %d (%v) after the update, want 0", rediscache.LeaseKey(id), n, err)
		}
		if got := asJSON(s.storedUser(t, id)); showJSON(got) != showJSON(want) {
			t.Errorf("MySQL has %s, want %s", showJSON(got), showJSON(want))
		}
		s.ResetCounts()
		q := s.Post(t, `{ user(id: "`+strconv.FormatInt(id, 10)+`") { id name photo intro certi } }`, nil)
		if got := q.User(t, "user"); showJSON(got) != showJSON(want) {
			t.Errorf("user(id:) after the update = %s, want %s", showJSON(got), showJSON(want))
		}
		if p, raw, ok := servertest.CachedInfo(t, s.Redis.Raw, id); !ok || showJSON(&p) != showJSON(want) {
			t.Errorf("after user(id:) %s = %q (present %v), want the new profile", rediscache.ProfileKey(id), raw, ok)
		}
	}

	t.Run("an entry the Flask app wrote before the update is deleted by it", func(t *testing.T) {
		u := updateProfile(storetest.IDs(t, 1))
		s.ReplaceUsers(t, u)
		flask := fmt.Sprintf(`{"name": "m%d", "photo": "https://img.example.com/%d.png", "intro": "intro %d", "certi": "certi"}`, u.ID, u.ID, u.ID)
		if err := s.Redis.Raw.Set(ctx, rediscache.ProfileKey(u.ID), flask, 30*time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		// The Flask entry is what the API serves until the update.
		if got := s.Post(t, fmt.Sprintf(`{ user(id: "%d") { name } }`, u.ID), nil).User(t, "user"); got == nil || got.Name != u.Name {
			t.Fatalf("before the update user = %s", showJSON(got))
		}
		r := s.UpdateMe(t, u.ID, map[string]any{"name": fmt.Sprintf("flask %d", u.ID), "intro": nil, "photo": "https://x/y.png"})
		if _, raw, ok := servertest.CachedInfo(t, s.Redis.Raw, u.ID); ok {
			t.Errorf("the Flask entry survived the update: %s", raw)
		}
		check(t, u.ID, r, &servertest.User{ID: fmt.Sprint(u.ID), Name: fmt.Sprintf("flask %d", u.ID), Photo: servertest.Ptr("https://x/y.png"), Certi: servertest.Ptr("certi")})
	})

	t.Run("an entry headline filled is deleted, and the next read fills the new profile", func(t *testing.T) {
		u := updateProfile(storetest.IDs(t, 1))
		s.ReplaceUsers(t, u)
		s.Post(t, fmt.Sprintf(`{ user(id: "%d") { name } }`, u.ID), nil)
		if _, _, ok := servertest.CachedInfo(t, s.Redis.Raw, u.ID); !ok {
			t.Fatalf("user(id:) did not fill %s", rediscache.ProfileKey(u.ID))
		}
		r := s.UpdateMe(t, u.ID, map[string]any{"intro": "新的简介"})
		if _, raw, ok := servertest.CachedInfo(t, s.Redis.Raw, u.ID); ok {
			t.Errorf("the cached profile survived the update: %s", raw)
		}
		want := asJSON(&u)
		want.Intro = servertest.Ptr("新的简介")
		check(t, u.ID, r, want)
	})

	t.Run("updateMe and me in one request: me answers the new profile", func(t *testing.T) {
		u := updateProfile(storetest.IDs(t, 1))
		s.ReplaceUsers(t, u)
		name := fmt.Sprintf("both %d", u.ID)
		r := s.Post(t, fmt.Sprintf(`mutation { updateMe(input: {name: "%s"}) { name } }`, name), nil,
			"Authorization", "Bearer "+servertest.Token(t, servertest.TokenOptions{UserID: u.ID}))
		if got := r.User(t, "updateMe"); got == nil || got.Name != name {
			t.Fatalf("updateMe = %s", r.Raw)
		}
		q := s.Post(t, `{ me { name } }`, nil, "Authorization", "Bearer "+servertest.Token(t, servertest.TokenOptions{UserID: u.ID}))
		if got := q.User(t, "me"); got == nil || got.Name != name {
			t.Errorf("me after the update = %s", q.Raw)
		}
	})
}

func TestUpdateMeRedisDown(t *testing.T) {
	rs := storetest.StartRedisServer(t)
	logs := &storetest.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := newTestConfig(func(c *testConfig) { c.Log = logger })
	base := storetest.DB(t, "api")
	rdb := rediscache.NewClient(&redis.Options{Addr: rs.Addr}, cfg.Redis)
	t.Cleanup(func() { _ = rdb.Close() })
	h := newTestHandler(t, cfg, base, rdb)
	s := &testServer{servertest.Serve(t, h, servertest.Server{Base: base, RDB: rdb}), cfg}

	u := updateProfile(storetest.IDs(t, 1))
	s.ReplaceUsers(t, u)
	// Warm: the profile is cached when Redis dies.
	if got := s.Post(t, fmt.Sprintf(`{ user(id: "%d") { name } }`, u.ID), nil).User(t, "user"); got == nil || got.Name != u.Name {
		t.Fatalf("user = %s", showJSON(got))
	}
	rs.Kill()

	r := s.UpdateMe(t, u.ID, map[string]any{"name": fmt.Sprintf("offline %d", u.ID), "photo": nil})
	if len(r.Errors) > 0 {
		t.Fatalf("with Redis down the update was refused: %s\nlog:\n%s", r.Raw, logs.String())
	}
	want := asJSON(&u)
	want.Name, want.Photo = fmt.Sprintf("offline %d", u.ID), nil
	if got := r.User(t, "updateMe"); showJSON(got) != showJSON(want) {
		t.Errorf("updateMe = %s, want %s", showJSON(got), showJSON(want))
	}
	if got := asJSON(s.storedUser(t, u.ID)); showJSON(got) != showJSON(want) {
		t.Errorf("MySQL has %s, want %s", showJSON(got), showJSON(want))
	}
	var line string
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, "could not be invalidated") {
			line = l
		}
	}
	if line == "" || !strings.Contains(line, "level=ERROR") || !strings.Contains(line, fmt.Sprintf("user=%d", u.ID)) {
		t.Errorf("want an ERROR line saying the invalidation of user %d failed; log:\n%s", u.ID, logs.String())
	} else {
		t.Logf("logged: %s", strings.TrimSpace(line))
	}
	if got := s.Post(t, fmt.Sprintf(`{ user(id: "%d") { name photo } }`, u.ID), nil).User(t, "user"); got == nil || got.Name != want.Name || got.Photo != nil {
		t.Errorf("user(id:) with Redis down = %s, want the new profile from MySQL", showJSON(got))
	}
}
