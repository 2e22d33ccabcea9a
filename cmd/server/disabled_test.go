package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/store/rediscache"
)

func TestDisabledAccounts(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	s.addUsers(t,
		headline.User{ID: 7001, Name: "enabled"},
		headline.User{ID: 7002, Name: "disabled"},
		headline.User{ID: 7003, Name: "disabled-by-cache"},
		headline.User{ID: 7004, Name: "corrupt-status"},
	)
	if _, err := s.base.NewUpdate().Table("user_basic").Set("status = 0").Where("user_id = ?", 7002).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	s.redis.Raw.Set(ctx, rediscache.StatusKey(7003), "0", time.Hour) // the Flask app's status cache
	s.redis.Raw.Set(ctx, rediscache.StatusKey(7004), "enabled?", time.Hour)

	me := func(id int64) gqlResponse {
		return s.post(t, `{ me { id name } }`, nil, "Authorization", "Bearer "+token(t, tokenOpts{userID: id}))
	}
	for _, tc := range []struct {
		name       string
		id         int64
		wantCode   string // "" for a served me
		wantStatus string // the status entry afterwards
		wantSelect int
	}{
		{"an enabled account signs in; profile and status are read in one MGET and loaded in one SELECT", 7001, "", "1", 1},
		{"the same account warm costs one MGET and no SQL", 7001, "", "1", 0},
		{"a disabled account is FORBIDDEN", 7002, headline.ECodeForbidden, "0", 1},
		{"a disabled account warm is FORBIDDEN without SQL", 7002, headline.ECodeForbidden, "0", 0},
		{"a status of 0 cached by the Flask app is believed", 7003, headline.ECodeForbidden, "0", 1},
		{"a status entry of another shape is reloaded and repaired", 7004, "", "1", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.resetCounts()
			r := me(tc.id)
			if got := r.code("me"); got != tc.wantCode {
				t.Errorf("me code = %q, want %q: %s", got, tc.wantCode, r.Raw)
			}
			if tc.wantCode == "" {
				if u := r.user(t, "me"); u == nil || u.ID != fmt.Sprint(tc.id) {
					t.Errorf("me = %+v, want user %d", u, tc.id)
				}
			} else if u := r.user(t, "me"); u != nil {
				t.Errorf("me = %+v, want null", u)
			}
			if got := s.rc.Count("MGET"); got != 1 {
				t.Errorf("MGET = %d, want 1 (%s)", got, s.rc)
			}
			if got := s.sql.Count("SELECT"); got != tc.wantSelect {
				t.Errorf("SELECT = %d, want %d", got, tc.wantSelect)
			}
			if got, _ := s.redis.Raw.Get(ctx, rediscache.StatusKey(tc.id)).Result(); got != tc.wantStatus {
				t.Errorf("%s = %q, want %q", rediscache.StatusKey(tc.id), got, tc.wantStatus)
			}
		})
	}

	t.Run("status entries live 3600..4199s", func(t *testing.T) {
		for _, id := range []int64{7001, 7002} {
			if ttl := s.redis.TTL(t, rediscache.StatusKey(id)); ttl < 3598*time.Second || ttl > 4199*time.Second {
				t.Errorf("TTL %s = %v", rediscache.StatusKey(id), ttl)
			}
		}
	})

	t.Run("the public profile of a disabled account is still served", func(t *testing.T) {
		r := s.post(t, `{ user(id: "7002") { name } }`, nil)
		if u := r.user(t, "user"); u == nil || u.Name != "disabled" {
			t.Errorf("user = %+v: %s", u, r.Raw)
		}
	})

	t.Run("me and user of the same id share one MGET", func(t *testing.T) {
		s.resetCounts()
		r := s.post(t, `{ me { name } user(id: "7001") { name } }`, nil, "Authorization", "Bearer "+token(t, tokenOpts{userID: 7001}))
		if len(r.Errors) > 0 || r.user(t, "me") == nil || r.user(t, "user") == nil {
			t.Fatalf("got %s", r.Raw)
		}
		if s.rc.RoundTrips() != 1 {
			t.Errorf("Redis: %s, want one MGET", s.rc)
		}
	})
}
