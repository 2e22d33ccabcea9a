package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/sqldb"
	"github.com/headline/headline/store/storetest"
)

// How the database of a fault server is taken away.
const (
	dbUp          = iota // a handle of the server's own on the test database
	dbUnreachable        // a MySQL DSN naming a port nobody listens on
)

// faultServer is the whole server over HTTP, as newTestServer builds it, but
// on database and Redis handles of its own, so a test can break them
// without breaking the package's shared ones.
type faultServer struct {
	*testServer
	// db is the handle the server uses (uncounted): closing it is MySQL
	// going away.
	db *bun.DB
}

// newFaultServer builds a fault server. With deadRedis its Redis client
// dials a port nobody listens on; s.redis still reaches the test's Redis,
// for setup.
func newFaultServer(t *testing.T, dbMode int, deadRedis bool) *faultServer {
	t.Helper()
	cfg := newTestConfig()
	var db *bun.DB
	switch dbMode {
	case dbUp:
		db = ownDBHandle(t)
	case dbUnreachable:
		var err error
		db, err = sqldb.OpenMySQL(fmt.Sprintf("root@tcp(127.0.0.1:%d)/headline_faults", storetest.FreePort(t)), sqldb.PoolOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
	}
	counted, sc := storetest.CountSQL(db)
	r := storetest.NewRedis(t, redisDB)
	opt := r.Options()
	if deadRedis {
		opt = &redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", storetest.FreePort(t))}
	}
	rdb := rediscache.NewClient(opt, cfg.Redis)
	t.Cleanup(func() { _ = rdb.Close() })
	rc := storetest.CountRedis(rdb)
	h := newTestHandler(t, cfg, counted, rdb)
	return &faultServer{
		testServer: &testServer{servertest.Serve(t, h, servertest.Server{Base: db, SQL: sc, Redis: r, RDB: rdb, RC: rc}), cfg},
		db:         db,
	}
}

var sqliteFaultDBs atomic.Int64

// ownDBHandle opens a database handle nobody else uses, migrated: on
// HEADLINE_TEST_MYSQL_DSN a second pool onto this package's test database,
// else an in-memory SQLite of its own.
func ownDBHandle(t *testing.T) *bun.DB {
	t.Helper()
	ctx := context.Background()
	var db *bun.DB
	if dsn := os.Getenv(storetest.MySQLEnv); dsn != "" {
		var name string
		if err := storetest.DB(t, "api").QueryRowContext(ctx, "SELECT DATABASE()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.DBName = name
		if db, err = sqldb.OpenMySQL(cfg.FormatDSN(), sqldb.PoolOptions{MaxOpen: 4}); err != nil {
			t.Fatal(err)
		}
	} else {
		var err error
		name := fmt.Sprintf("file:headline_faults_%d?mode=memory&cache=shared", sqliteFaultDBs.Add(1))
		if db, err = sqldb.OpenSQLite(name); err != nil {
			t.Fatal(err)
		}
		if _, err := sqldb.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// seedFlaskCache writes users into the cache as the Flask app does.
func (s *faultServer) seedFlaskCache(t *testing.T, users ...headline.User) {
	t.Helper()
	for _, u := range users {
		v, _ := json.Marshal(map[string]any{"name": u.Name, "photo": u.Photo, "intro": u.Intro, "certi": u.Certi})
		if err := s.Redis.Raw.Set(context.Background(), rediscache.ProfileKey(u.ID), v, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// internals are words of driver and SQL errors that must never reach a
// client.
var internals = []string{"sql", "select", "mysql", "tcp", "dial", "closed", "database", "user_basic", "refused", "127.0.0.1"}

func requireNoInternals(t *testing.T, raw string) {
	t.Helper()
	for _, w := range internals {
		if strings.Contains(strings.ToLower(raw), w) {
			t.Errorf("the response shows %q: %s", w, raw)
		}
	}
}

func TestDatabaseDown(t *testing.T) {
	first := storetest.IDs(t, 4)
	uncached := first + 3
	cases := []struct {
		name string
		// down builds a server with first..first+2 in the cache and its
		// database gone.
		down func(t *testing.T) *faultServer
	}{
		{"database closed after a request warmed the cache", func(t *testing.T) *faultServer {
			s := newFaultServer(t, dbUp, false)
			s.AddUsers(t, servertest.SeqUsers(first, 3)...)
			if r := s.Post(t, fmt.Sprintf(`{ users(ids: ["%d","%d","%d"]) { id } }`, first, first+1, first+2), nil); len(r.Errors) > 0 {
				t.Fatalf("warming: %s", r.Raw)
			}
			if err := s.db.Close(); err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"MySQL unreachable, the cache written by the Flask app", func(t *testing.T) *faultServer {
			s := newFaultServer(t, dbUnreachable, false)
			s.seedFlaskCache(t, servertest.SeqUsers(first, 3)...)
			return s
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.down(t)

			t.Run("cached users are served and the uncached one is an opaque internal error", func(t *testing.T) {
				s.wantCachedServed(t, first, uncached)
			})

			t.Run("the failure is not cached: the uncached id is tried again", func(t *testing.T) {
				s.ResetCounts()
				r := s.Post(t, fmt.Sprintf(`{ user(id: "%d") { id } }`, uncached), nil)
				if got, want := r.Code("user"), headline.ECodeInternal; got != want {
					t.Errorf("code = %q, want %q: %s", got, want, r.Raw)
				}
				requireNoInternals(t, r.Raw)
				if got := s.SQL.Count("SELECT"); got != 1 {
					t.Errorf("SELECT = %d, want 1", got)
				}
				if v, err := s.Redis.Raw.Get(context.Background(), rediscache.ProfileKey(uncached)).Result(); err != redis.Nil {
					t.Errorf("%s = %q, %v; want no entry", rediscache.ProfileKey(uncached), v, err)
				}
			})

		})
	}
}

// wantCachedServed asks for first and first+1, in the cache, and uncached,
// with the database gone, and wants the two served and the third an opaque
// internal error, with one MGET and no fill.
func (s *faultServer) wantCachedServed(t *testing.T, first, uncached int64) {
	s.ResetCounts()
	r := s.Post(t, fmt.Sprintf(`{ users(ids: ["%d","%d","%d"]) { id name } }`, first, first+1, uncached), nil)
	if r.Status != http.StatusOK {
		t.Errorf("status = %d, want 200", r.Status)
	}
	got := r.Users(t, "users")
	if len(got) != 3 {
		t.Fatalf("got %d entries, want 3: %s", len(got), r.Raw)
	}
	for i, id := range []string{fmt.Sprint(first), fmt.Sprint(first + 1)} {
		if u := got[i]; u == nil || u.ID != id || u.Name != "u"+id {
			t.Errorf("users[%d] = %+v, want user %s from the cache", i, u, id)
		}
	}
	if got[2] != nil {
		t.Errorf("users[2] = %+v, want null", got[2])
	}
	if got, want := r.Code("users.2"), headline.ECodeInternal; got != want {
		t.Errorf("users.2 code = %q, want %q: %s", got, want, r.Raw)
	}
	if len(r.Errors) != 1 || r.Errors[0].Message != "internal server error" {
		t.Errorf("want one error, \"internal server error\": %s", r.Raw)
	}
	requireNoInternals(t, r.Raw)
	if got := s.RC.Count("MGET"); got != 1 {
		t.Errorf("MGET = %d, want 1 (%s)", got, s.RC)
	}
	if got := s.RC.Count("SETEX") + s.RC.Count("EVAL") - s.RC.Count("SET"); got != 0 {
		t.Errorf("fills = %d, want 0: a failed load must not be cached as missing (%s)", got, s.RC)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	cases := []struct {
		name       string
		dbMode     int
		closeDB    bool
		deadRedis  bool
		wantStatus int
		wantBody   map[string]string // fields the body must hold; it may hold more
	}{
		{"both up", dbUp, false, false, http.StatusOK,
			map[string]string{"status": "ready", "mysql": "ok", "redis": "ok"}},
		{"Redis unreachable", dbUp, false, true, http.StatusOK,
			map[string]string{"status": "degraded", "mysql": "ok", "redis": "down"}},
		{"database closed", dbUp, true, false, http.StatusServiceUnavailable,
			map[string]string{"status": "unavailable", "mysql": "down", "redis": "ok"}},
		{"MySQL unreachable", dbUnreachable, false, false, http.StatusServiceUnavailable,
			map[string]string{"status": "unavailable", "mysql": "down", "redis": "ok"}},
		{"both down", dbUp, true, true, http.StatusServiceUnavailable,
			map[string]string{"status": "unavailable", "mysql": "down", "redis": "down"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newFaultServer(t, tc.dbMode, tc.deadRedis)
			if tc.closeDB {
				if err := s.db.Close(); err != nil {
					t.Fatal(err)
				}
			}

			t.Run("healthz is 200 ok", func(t *testing.T) {
				p := servertest.GetProbe(t, s.URL+"/healthz")
				if p.Status != http.StatusOK || p.Body != "ok\n" {
					t.Errorf("healthz = %d %q, want 200 \"ok\\n\"", p.Status, p.Body)
				}
			})

			t.Run(fmt.Sprintf("readyz is %d %s", tc.wantStatus, tc.wantBody["status"]), func(t *testing.T) {
				start := time.Now()
				p := servertest.GetProbe(t, s.URL+"/readyz")
				if d := time.Since(start); d > 1500*time.Millisecond {
					t.Errorf("readyz took %v; it must answer within its 1s budget", d)
				}
				if p.Status != tc.wantStatus {
					t.Errorf("status = %d, want %d", p.Status, tc.wantStatus)
				}
				var got map[string]string
				if err := json.Unmarshal([]byte(p.Body), &got); err != nil {
					t.Fatalf("body %q: %v", p.Body, err)
				}
				for k, want := range tc.wantBody {
					if got[k] != want {
						t.Errorf("%s = %q, want %q (body %s)", k, got[k], want, p.Body)
					}
				}
				for k, v := range got {
					if !regexp.MustCompile(`^[a-z_]{1,16}$`).MatchString(v) {
						t.Errorf("%s = %q: readyz says states, not errors", k, v)
					}
				}
			})
		})
	}

	t.Run("with Redis unreachable users are served from MySQL", func(t *testing.T) {
		s := newFaultServer(t, dbUp, true)
		id := storetest.IDs(t, 1)
		s.AddUsers(t, headline.User{ID: id, Name: "no-redis"})
		r := s.Post(t, fmt.Sprintf(`{ user(id: "%d") { id name } }`, id), nil)
		if u := r.User(t, "user"); u == nil || u.Name != "no-redis" || len(r.Errors) > 0 {
			t.Errorf("user = %+v, want user %d: %s", u, id, r.Raw)
		}
	})
}
