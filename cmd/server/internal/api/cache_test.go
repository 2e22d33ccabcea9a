package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

const userFields = "id name photo intro certi"

func TestFeedBatch(t *testing.T) {
	s := newTestServer(t)
	// 45 users that exist, 5 ids that do not.
	first := storetest.IDs(t, 50)
	s.AddUsers(t, servertest.SeqUsers(first, 45)...)
	ids := make([]int64, 50)
	for i := range ids {
		ids[i] = first + int64(i)
	}
	q := fmt.Sprintf(`{ users(ids: %s) { %s } }`, servertest.IDList(ids), userFields)

	check := func(t *testing.T, r servertest.Response) {
		t.Helper()
		if len(r.Errors) > 0 {
			t.Fatalf("errors: %s", r.Raw)
		}
		got := r.Users(t, "users")
		if len(got) != 50 {
			t.Fatalf("got %d entries, want 50", len(got))
		}
		for i, u := range got {
			id := ids[i]
			if id >= first+45 {
				if u != nil {
					t.Errorf("users[%d] = %+v, want null for unknown id %d", i, u, id)
				}
				continue
			}
			if u == nil || u.ID != fmt.Sprint(id) || u.Name != fmt.Sprintf("u%d", id) {
				t.Fatalf("users[%d] = %+v, want user %d", i, u, id)
			}
			if (u.Photo != nil) != (id%2 == 0) || (u.Intro != nil) != (id%2 == 0) {
				t.Errorf("users[%d] = %+v: optional fields wrong", i, u)
			}
		}
	}

	c := &feedBatch{s: s, first: first, ids: ids, q: q, check: check}
	t.Run("cold batch of 50 is one MGET, one lease pipeline, one SELECT and one fill pipeline", c.cold)
	t.Run("cache entries are the Toutiao format with jittered TTLs", c.entries)
	t.Run("the same batch warm is one MGET and no SQL", c.warm)
	t.Run("duplicate ids are one key", c.duplicates)
}

// feedBatch is TestFeedBatch's server, its 50 ids from first (the last 5 without a user), their query, and the check of its answer.
type feedBatch struct {
	s     *testServer
	first int64
	ids   []int64
	q     string
	check func(*testing.T, servertest.Response)
}

func (c *feedBatch) cold(t *testing.T) {
	s, check := c.s, c.check
	s.ResetCounts()
	check(t, s.Post(t, c.q, nil))
	if got := s.RC.Count("MGET"); got != 1 {
		t.Errorf("MGET = %d, want 1 (%s)", got, s.RC)
	}
	if got := s.SQL.Count("SELECT"); got != 1 {
		t.Errorf("SELECT = %d, want 1: %q", got, s.SQL.Queries())
	}
	if got := s.RC.Count("SET"); got != 50 {
		t.Errorf("SET NX (leases) = %d, want 50 (%s)", got, s.RC)
	}
	if got := s.RC.Count("EVAL"); got != 50 {
		t.Errorf("EVAL (fills under a lease) = %d, want 50 (%s)", got, s.RC)
	}
	if got := s.RC.RoundTrips(); got != 3 {
		t.Errorf("Redis round trips = %d, want 3 (MGET, leases, fills): %s", got, s.RC)
	}
	q := s.SQL.Queries()[0]
	if !strings.Contains(q, "user_id IN (") || strings.Count(q, ",") < 49 {
		t.Errorf("SELECT is not one IN query over the 50 ids: %s", q)
	}
}

func (c *feedBatch) entries(t *testing.T) {
	s, ids := c.s, c.ids
	ctx := context.Background()
	profileTTLs := map[time.Duration]bool{}
	for _, id := range ids[:45] {
		key := fmt.Sprintf("user:%d:info", id)
		v, err := s.Redis.Raw.Get(ctx, key).Result()
		if err != nil {
			t.Fatalf("GET %s: %v", key, err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(v), &m); err != nil {
			t.Fatalf("%s = %q: %v", key, v, err)
		}
		if len(m) != 4 || m["name"] != fmt.Sprintf("u%d", id) {
			t.Errorf("%s = %s, want exactly name, photo, intro, certi", key, v)
		}
		for _, k := range []string{"photo", "intro", "certi"} {
			if _, ok := m[k]; !ok {
				t.Errorf("%s = %s: no %q (NULL must be written as null)", key, v, k)
			}
		}
		ttl := s.Redis.TTL(t, key)
		if ttl < 1800*time.Second-2*time.Second || ttl > 2399*time.Second {
			t.Errorf("TTL %s = %v, want 1800..2399s", key, ttl)
		}
		profileTTLs[ttl] = true
	}
	if len(profileTTLs) < 5 {
		t.Errorf("45 profile TTLs took only %d values; each key must draw its own jitter", len(profileTTLs))
	}
	for _, id := range ids[45:] {
		key := fmt.Sprintf("user:%d:info", id)
		if v, _ := s.Redis.Raw.Get(ctx, key).Result(); v != "-1" {
			t.Errorf("%s = %q, want -1", key, v)
		}
		if ttl := s.Redis.TTL(t, key); ttl < 298*time.Second || ttl > 359*time.Second {
			t.Errorf("TTL %s = %v, want 300..359s", key, ttl)
		}
	}
}

func (c *feedBatch) warm(t *testing.T) {
	s, q, check := c.s, c.q, c.check
	s.ResetCounts()
	check(t, s.Post(t, q, nil))
	if got := s.RC.RoundTrips(); got != 1 || s.RC.Count("MGET") != 1 {
		t.Errorf("Redis: %s, want exactly one MGET", s.RC)
	}
	if got := s.SQL.Count("SELECT"); got != 0 {
		t.Errorf("SELECT = %d, want 0", got)
	}
}

func (c *feedBatch) duplicates(t *testing.T) {
	s, first := c.s, c.first
	s.ResetCounts()
	a, b := fmt.Sprint(first+1), fmt.Sprint(first+2)
	r := s.Post(t, fmt.Sprintf(`{ users(ids: ["%s","%s","%s","%s"]) { id } }`, a, a, b, a), nil)
	got := r.Users(t, "users")
	if len(got) != 4 || got[0].ID != a || got[2].ID != b || got[3].ID != a {
		t.Fatalf("got %s", r.Raw)
	}
	if s.RC.Count("MGET") != 1 {
		t.Errorf("Redis: %s", s.RC)
	}
}

func TestAliasesAndFieldsShareOneBatch(t *testing.T) {
	s := newTestServer(t)
	first := storetest.IDs(t, 30)
	s.AddUsers(t, servertest.SeqUsers(first, 30)...)
	var b strings.Builder
	b.WriteString("{")
	for i := range 20 {
		fmt.Fprintf(&b, " a%d: user(id: \"%d\") { id name }", i, first+int64(i))
	}
	b.WriteString(" }")

	for _, tc := range []struct {
		name  string
		query string
		warm  bool
	}{
		{"20 aliased user fields cold", b.String(), false},
		{"20 aliased user fields warm", b.String(), true},
		{"user, users and me together", fmt.Sprintf(`{ x: user(id: "%d") { id } users(ids: ["%d","%d"]) { id } me { id } }`, first+25, first+26, first+27), false},
	} {
		t.Run(tc.name+" are one MGET", func(t *testing.T) {
			s.ResetCounts()
			r := s.Post(t, tc.query, nil, "Authorization", "Bearer "+servertest.Token(t, servertest.TokenOptions{UserID: first + 28}))
			if len(r.Errors) > 0 {
				t.Fatalf("errors: %s", r.Raw)
			}
			if got := s.RC.Count("MGET"); got != 1 {
				t.Errorf("MGET = %d, want 1 (%s)", got, s.RC)
			}
			want := 1
			if tc.warm {
				want = 0
			}
			if got := s.SQL.Count("SELECT"); got != want {
				t.Errorf("SELECT = %d, want %d", got, want)
			}
		})
	}
}

func TestCacheWrittenByFlask(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	id := storetest.IDs(t, 2)
	s.AddUsers(t,
		headline.User{ID: id, Name: "mysql-name"},
		headline.User{ID: id + 1, Name: "exists-in-mysql"},
	)
	// What Python's json.dumps writes: ", " and ": " separators, \uXXXX escapes.
	flask := `{"name": "\u5f20\u4e09", "photo": null, "intro": "\u4f60\u597d \"quoted\"", "certi": null}`
	s.Redis.Raw.Set(ctx, rediscache.ProfileKey(id), flask, time.Hour)
	// The Flask app's negative entry, although MySQL has the row now.
	s.Redis.Raw.Set(ctx, rediscache.ProfileKey(id+1), "-1", time.Hour)

	s.ResetCounts()
	r := s.Post(t, fmt.Sprintf(`{ a: user(id: "%d") { id name photo intro certi } b: user(id: "%d") { id } }`, id, id+1), nil)
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %s", r.Raw)
	}
	a := r.User(t, "a")
	if a == nil || a.Name != "张三" || a.Photo != nil || a.Intro == nil || *a.Intro != `你好 "quoted"` {
		t.Errorf("a = %+v, want the cached 张三 entry as written", a)
	}
	if b := r.User(t, "b"); b != nil {
		t.Errorf("b = %+v, want null: the cache says -1", b)
	}
	if got := s.SQL.Count("SELECT"); got != 0 {
		t.Errorf("SELECT = %d, want 0: both answers were cached", got)
	}
	if got, _ := s.Redis.Raw.Get(ctx, rediscache.ProfileKey(id)).Result(); got != flask {
		t.Errorf("the Flask entry was rewritten: %q", got)
	}
}

func TestCorruptEntriesAreRepaired(t *testing.T) {
	s := newTestServer(t, slowMachine) // a 4 MiB value takes a while under -race
	ctx := context.Background()
	cases := []struct {
		name, value string
	}{
		{"truncated JSON", `{"name": "old", "photo": nu`},
		{"binary garbage", "\x00\xff\xfe garbage \x01"},
		{"name a number", `{"name": 42, "photo": null, "intro": null, "certi": null}`},
		{"name null", `{"name": null, "photo": null, "intro": null, "certi": null}`},
		{"missing key", `{"name": "old", "photo": null, "intro": null}`},
		{"extra key", `{"name": "old", "photo": null, "intro": null, "certi": null, "admin": true}`},
		{"photo a number", `{"name": "old", "photo": 1, "intro": null, "certi": null}`},
		{"a JSON array", `["old"]`},
		{"another sentinel", `-2`},
		{"two documents", `{"name": "old", "photo": null, "intro": null, "certi": null} {}`},
		{"several megabytes", `{"name": "` + strings.Repeat("x", 4<<20) + `"`},
	}
	first := storetest.IDs(t, len(cases))
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := first + int64(i)
			s.AddUsers(t, headline.User{ID: id, Name: fmt.Sprintf("fresh%d", id)})
			key := rediscache.ProfileKey(id)
			s.Redis.Raw.Set(ctx, key, tc.value, time.Hour)
			s.ResetCounts()
			r := s.Post(t, fmt.Sprintf(`{ user(id: "%d") { id name } }`, id), nil)
			if u := r.User(t, "user"); u == nil || u.Name != fmt.Sprintf("fresh%d", id) {
				t.Fatalf("user = %+v (%s), want the MySQL row", u, r.Raw)
			}
			if s.SQL.Count("SELECT") != 1 {
				t.Errorf("SELECT = %d, want 1", s.SQL.Count("SELECT"))
			}
			got, _ := s.Redis.Raw.Get(ctx, key).Result()
			want := fmt.Sprintf(`{"name":"fresh%d","photo":null,"intro":null,"certi":null}`, id)
			if got != want {
				t.Errorf("%s = %.80q, want it repaired to %s", key, got, want)
			}
		})
	}
}

// slowMachine gives Redis timeouts that hold on a loaded machine (the race
// detector, 200 clients on 2 cores), for tests about something else.
func slowMachine(c *testConfig) {
	c.Redis.DialTimeout, c.Redis.ReadTimeout, c.Redis.WriteTimeout = 5*time.Second, 5*time.Second, 5*time.Second
}

func TestColdHerdIsOneSelect(t *testing.T) {
	s := newTestServer(t, slowMachine)
	id := storetest.IDs(t, 1)
	s.AddUsers(t, headline.User{ID: id, Name: "herd"})
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for range n {
		wg.Go(func() {
			r := s.Post(t, fmt.Sprintf(`{ user(id: "%d") { name } }`, id), nil)
			if u := r.User(t, "user"); u == nil || u.Name != "herd" {
				errs <- r.Raw
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("wrong answer: %s", e)
	}
	if got := s.SQL.Count("SELECT"); got != 1 {
		t.Errorf("%d concurrent cold requests ran %d SELECTs, want 1", n, got)
	}
}

// TestUnservableEntriesAreLoadedAgain: entries that decode but must not be
// served (over the size bound, invalid UTF-8, an escaped lone surrogate) are
// misses like a corrupt entry: loaded from MySQL under a lease in the
// batch's one SELECT and overwritten, counted as corrupt, while the good
// entries of the same request are served from the cache.
func TestUnservableEntriesAreLoadedAgain(t *testing.T) {
	s := newTestServer(t, slowMachine)
	ctx := context.Background()
	first := storetest.IDs(t, 5)
	good1, big, badUTF8, surrogate, good2 := first, first+1, first+2, first+3, first+4
	ids := []int64{good1, big, badUTF8, surrogate, good2}
	for _, id := range ids {
		s.AddUsers(t, headline.User{ID: id, Name: fmt.Sprintf("row%d", id)})
	}
	entries := map[int64]string{
		good1:     fmt.Sprintf(`{"name": "cached%d", "photo": null, "intro": null, "certi": null}`, good1),
		big:       `{"name": "` + strings.Repeat("x", 2<<20) + `", "photo": null, "intro": null, "certi": null}`,
		badUTF8:   fmt.Sprintf("{\"name\": \"bad\xff%d\", \"photo\": null, \"intro\": null, \"certi\": null}", badUTF8),
		surrogate: fmt.Sprintf(`{"name": "lone\ud800%d", "photo": null, "intro": null, "certi": null}`, surrogate),
		good2:     fmt.Sprintf(`{"name":"cached%d","photo":null,"intro":null,"certi":null}`, good2),
	}
	for id, v := range entries {
		if err := s.Redis.Raw.Set(ctx, rediscache.ProfileKey(id), v, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	before := servertest.ScrapeMetrics(t, s.URL)
	s.ResetCounts()
	r := s.Post(t, fmt.Sprintf(`{ users(ids: %s) { id name } }`, servertest.IDList(ids)), nil)
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %.300s", r.Raw)
	}
	got := r.Users(t, "users")
	if len(got) != len(ids) {
		t.Fatalf("%d users, want %d: %.300s", len(got), len(ids), r.Raw)
	}
	for i, want := range []string{fmt.Sprintf("cached%d", good1), fmt.Sprintf("row%d", big), fmt.Sprintf("row%d", badUTF8), fmt.Sprintf("row%d", surrogate), fmt.Sprintf("cached%d", good2)} {
		if got[i] == nil || got[i].Name != want {
			t.Errorf("users[%d] = %.80s, want name %s", i, showJSON(got[i]), want)
		}
	}
	if got := s.RC.Count("MGET"); got != 1 {
		t.Errorf("MGET = %d, want 1 (%s)", got, s.RC)
	}
	if got := s.RC.Count("SET"); got != 3 {
		t.Errorf("SET NX (leases) = %d, want 3: one per unservable entry (%s)", got, s.RC)
	}
	if got := s.RC.Count("EVAL"); got != 3 {
		t.Errorf("EVAL (fills under a lease) = %d, want 3 (%s)", got, s.RC)
	}
	if got := s.RC.RoundTrips(); got != 3 {
		t.Errorf("Redis round trips = %d, want 3 (MGET, leases, fills): %s", got, s.RC)
	}
	if got := s.SQL.Count("SELECT"); got != 1 {
		t.Errorf("SELECT = %d, want 1: %q", got, s.SQL.Queries())
	}
	for _, id := range []int64{big, badUTF8, surrogate} {
		want := fmt.Sprintf(`{"name":"row%d","photo":null,"intro":null,"certi":null}`, id)
		if got, _ := s.Redis.Raw.Get(ctx, rediscache.ProfileKey(id)).Result(); got != want {
			t.Errorf("%s = %.80q, want it overwritten with %s", rediscache.ProfileKey(id), got, want)
		}
	}
	for _, id := range []int64{good1, good2} {
		if got, _ := s.Redis.Raw.Get(ctx, rediscache.ProfileKey(id)).Result(); got != entries[id] {
			t.Errorf("%s = %q, want it untouched", rediscache.ProfileKey(id), got)
		}
	}
	after := servertest.ScrapeMetrics(t, s.URL)
	for result, want := range map[string]float64{"corrupt": 3, "hit": 2, "miss": 0} {
		name := "headline_cache_requests_total"
		if got := after.Value(t, name, "result", result) - before.Value(t, name, "result", result); got != want {
			t.Errorf("%s{result=%q} grew by %v, want %v", name, result, got, want)
		}
	}
}
