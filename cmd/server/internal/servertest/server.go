// Package servertest runs headline's HTTP server in tests and talks to it as
// its clients do: a server on the test's database and Redis with the round
// trips to both counted, a GraphQL client that decodes what a client sees,
// access tokens, Prometheus scrapes, a test's log, and a headless browser
// for the Playground. cmd/server's tests and its api's share it.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/headline/headline"
	"github.com/headline/headline/store/sqldb"
	"github.com/headline/headline/store/storetest"
)

// Server is the whole server over HTTP, on a database and a Redis with the
// round trips to both counted.
type Server struct {
	URL     string
	Handler http.Handler
	Base    *bun.DB // uncounted, for setup
	SQL     *storetest.SQLCounter
	// Redis is the test's Redis, for setup and inspection; nil when the
	// server's is one of the test's own (a cluster, a server it kills).
	Redis *storetest.Redis
	RDB   redis.UniversalClient // the server's client
	RC    *storetest.RedisCounter
}

// Serve serves h over HTTP until the test ends, and returns s with its URL
// and Handler set.
func Serve(t testing.TB, h http.Handler, s Server) *Server {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	s.URL, s.Handler = hs.URL, h
	return &s
}

// AddUsers inserts users straight into MySQL.
func (s *Server) AddUsers(t testing.TB, users ...headline.User) {
	t.Helper()
	if err := sqldb.InsertUsers(context.Background(), s.Base, users...); err != nil {
		t.Fatal(err)
	}
}

// ReplaceUsers is AddUsers for code that runs more than once per process
// (benchmarks under -count): it deletes the ids first.
func (s *Server) ReplaceUsers(t testing.TB, users ...headline.User) {
	t.Helper()
	ids := make([]int64, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	if _, err := s.Base.NewDelete().Table("user_basic").Where("user_id IN (?)", bun.List(ids)).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.AddUsers(t, users...)
}

// ResetCounts zeroes the Redis and SQL counters.
func (s *Server) ResetCounts() {
	s.SQL.Reset()
	s.RC.Reset()
}

// Post sends a GraphQL POST with optional headers (name, value pairs).
func (s *Server) Post(t testing.TB, query string, vars map[string]any, headers ...string) Response {
	t.Helper()
	return Post(t, s.URL, query, vars, headers...)
}

// UpdateQuery is the updateMe mutation of UpdateMe, its input in $in.
const UpdateQuery = `mutation($in: UpdateMeInput!) { updateMe(input: $in) { id name photo intro certi } }`

// UpdateMe sends updateMe(input: in) as user id; in's nil values are sent
// as JSON null, its absent keys are omitted.
func (s *Server) UpdateMe(t testing.TB, id int64, in map[string]any) Response {
	t.Helper()
	return s.Post(t, UpdateQuery, map[string]any{"in": in}, "Authorization", "Bearer "+Token(t, TokenOptions{UserID: id}))
}

// Logger logs to the test's output. Lines written after the test ended
// are dropped: a server's background work (an invalidation retried until a
// dead Redis node answers) can outlive the test that started it, and
// testing panics on output from a finished test.
func Logger(t testing.TB) *slog.Logger {
	w := &untilEnd{w: t.Output()}
	t.Cleanup(w.end)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// untilEnd writes to w until end is called, then drops what it is given.
type untilEnd struct {
	mu    sync.Mutex
	w     io.Writer
	ended bool
}

func (u *untilEnd) Write(p []byte) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ended {
		return len(p), nil
	}
	return u.w.Write(p)
}

func (u *untilEnd) end() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.ended = true
}
