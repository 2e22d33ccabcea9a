package api

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

func TestDisabledAccounts(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	enabled := storetest.IDs(t, 4)
	disabled, disabledByCache, corrupt := enabled+1, enabled+2, enabled+3
	s.AddUsers(t,
		headline.User{ID: enabled, Name: "enabled"},
		headline.User{ID: disabled, Name: "disabled"},
		headline.User{ID: disabledByCache, Name: "disabled-by-cache"},
		headline.User{ID: corrupt, Name: "corrupt-status"},
	)
	if _, err := s.Base.NewUpdate().Table("user_basic").Set("status = 0").Where("user_id = ?", disabled).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	s.Redis.Raw.Set(ctx, rediscache.StatusKey(disabledByCache), "0", time.Hour) // the Flask app's status cache
	s.Redis.Raw.Set(ctx, rediscache.StatusKey(corrupt), "enabled?", time.Hour)

	for _, tc := range []struct {
		name       string
		id         int64
		wantCode   string // "" for a served me
		wantStatus string // the status entry afterwards
		wantSelect int
	}{
		{"an enabled account signs in; profile and status are read in one MGET and loaded in one SELECT", enabled, "", "1", 1},
		{"the same account warm costs one MGET and no SQL", enabled, "", "1", 0},
		{"a disabled account is FORBIDDEN", disabled, headline.ECodeForbidden, "0", 1},
		{"a disabled account warm is FORBIDDEN without SQL", disabled, headline.ECodeForbidden, "0", 0},
		{"a status of 0 cached by the Flask app is believed", disabledByCache, headline.ECodeForbidden, "0", 1},
		{"a status entry of another shape is reloaded and repaired", corrupt, "", "1", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.checkDisabled(t, tc.id, tc.wantCode, tc.wantStatus, tc.wantSelect)
		})
	}

	t.Run("status entries live 3600..4199s", func(t *testing.T) {
		for _, id := range []int64{enabled, disabled} {
			if ttl := s.Redis.TTL(t, rediscache.StatusKey(id)); ttl < 3598*time.Second || ttl > 4199*time.Second {
				t.Errorf("TTL %s = %v", rediscache.StatusKey(id), ttl)
			}
		}
	})

	t.Run("the public profile of a disabled account is still served", func(t *testing.T) {
		r := s.Post(t, fmt.Sprintf(`{ user(id: "%d") { name } }`, disabled), nil)
		if u := r.User(t, "user"); u == nil || u.Name != "disabled" {
			t.Errorf("user = %+v: %s", u, r.Raw)
		}
	})

	t.Run("me and user of the same id share one MGET", func(t *testing.T) {
		s.ResetCounts()
		r := s.Post(t, fmt.Sprintf(`{ me { name } user(id: "%d") { name } }`, enabled), nil, "Authorization", "Bearer "+servertest.Token(t, servertest.TokenOptions{UserID: enabled}))
		if len(r.Errors) > 0 || r.User(t, "me") == nil || r.User(t, "user") == nil {
			t.Fatalf("got %s", r.Raw)
		}
		if s.RC.RoundTrips() != 1 {
			t.Errorf("Redis: %s, want one MGET", s.RC)
		}
	})
}

// checkDisabled asks for me as user id and wants wantCode ("" for a served
// me), the status entry wantStatus afterwards, one MGET and wantSelect
// SELECTs.
func (s *testServer) checkDisabled(t *testing.T, id int64, wantCode, wantStatus string, wantSelect int) {
	ctx := context.Background()
	s.ResetCounts()
	r := s.Post(t, `{ me { id name } }`, nil, "Authorization", "Bearer "+servertest.Token(t, servertest.TokenOptions{UserID: id}))
	if got := r.Code("me"); got != wantCode {
		t.Errorf("me code = %q, want %q: %s", got, wantCode, r.Raw)
	}
	if wantCode == "" {
		if u := r.User(t, "me"); u == nil || u.ID != fmt.Sprint(id) {
			t.Errorf("me = %+v, want user %d", u, id)
		}
	} else if u := r.User(t, "me"); u != nil {
		t.Errorf("me = %+v, want null", u)
	}
	if got := s.RC.Count("MGET"); got != 1 {
		t.Errorf("MGET = %d, want 1 (%s)", got, s.RC)
	}
	if got := s.SQL.Count("SELECT"); got != wantSelect {
		t.Errorf("SELECT = %d, want %d", got, wantSelect)
	}
	if got, _ := s.Redis.Raw.Get(ctx, rediscache.StatusKey(id)).Result(); got != wantStatus {
		t.Errorf("%s = %q, want %q", rediscache.StatusKey(id), got, wantStatus)
	}
}
