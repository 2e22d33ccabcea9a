package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/headline/headline"
	"github.com/headline/headline/store/sqldb"
	"github.com/headline/headline/store/storetest"
)

// redisDB is this package's logical Redis database on a real server.
const redisDB = 2

const testSecret = "toutiao-test-secret"

// testServer is the whole server over HTTP, on this package's database and
// a Redis of its own, with the round trips to both counted.
type testServer struct {
	URL     string
	Handler http.Handler
	cfg     *Config
	base    *bun.DB // uncounted, for setup
	sql     *storetest.SQLCounter
	redis   *storetest.Redis
	rdb     *redis.Client
	rc      *storetest.RedisCounter
}

// testConfig is the default configuration with a JWT secret, adjusted by
// the given functions.
func testConfig(t testing.TB, adjust ...func(*Config)) *Config {
	t.Helper()
	cfg, err := parseConfig(nil, func(k string) string {
		if k == "JWT_SECRET" {
			return testSecret
		}
		return ""
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range adjust {
		f(cfg)
	}
	return cfg
}

// testLogger logs to the test's output. Lines written after the test ended
// are dropped, since testing panics on output from a finished test. The
// server's own background work (an invalidation retried until a dead Redis
// node answers, which once outlived TestClusterMasterDown) ends with
// Server.Close, which serveTest calls; this guards against any other.
func testLogger(t testing.TB) *slog.Logger {
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

func newTestServer(t testing.TB, adjust ...func(*Config)) *testServer {
	t.Helper()
	return newTestServerWith(t, nil, adjust...)
}

// newTestServerWith is newTestServer with options for NewServer.
func newTestServerWith(t testing.TB, opts []serverOption, adjust ...func(*Config)) *testServer {
	t.Helper()
	return newTestServerLogging(t, testLogger(t), opts, adjust...)
}

// newTestServerLogging is newTestServerWith logging to log.
func newTestServerLogging(t testing.TB, log *slog.Logger, opts []serverOption, adjust ...func(*Config)) *testServer {
	t.Helper()
	cfg := testConfig(t, adjust...)
	base := storetest.DB(t, "server")
	db, sc := storetest.CountSQL(base)
	r := storetest.NewRedis(t, redisDB)
	rdb := newRedis(r.Options(), cfg)
	t.Cleanup(func() { _ = rdb.Close() })
	rc := storetest.CountRedis(rdb)
	h := NewServer(cfg, log, db, rdb, newTokenVerifier(testSecret), opts...)
	hs := serveTest(t, h)
	return &testServer{URL: hs.URL, Handler: h, cfg: cfg, base: base, sql: sc, redis: r, rdb: rdb, rc: rc}
}

// serveTest serves h until the test ends, then stops it and its
// background work, so that none outlives the test.
func serveTest(t testing.TB, h *Server) *httptest.Server {
	t.Helper()
	t.Cleanup(h.Close)
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs
}

// addUsers inserts users straight into MySQL.
func (s *testServer) addUsers(t testing.TB, users ...headline.User) {
	t.Helper()
	if err := sqldb.InsertUsers(context.Background(), s.base, users...); err != nil {
		t.Fatal(err)
	}
}

// replaceUsers is addUsers for code that runs more than once per process
// (benchmarks under -count): it deletes the ids first.
func (s *testServer) replaceUsers(t testing.TB, users ...headline.User) {
	t.Helper()
	ids := make([]int64, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	if _, err := s.base.NewDelete().Table("user_basic").Where("user_id IN (?)", bun.List(ids)).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.addUsers(t, users...)
}

// resetCounts zeroes the Redis and SQL counters.
func (s *testServer) resetCounts() {
	s.sql.Reset()
	s.rc.Reset()
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Status int
	Data   map[string]json.RawMessage `json:"data"`
	Errors []gqlError                 `json:"errors"`
	Raw    string
}

// code returns the extensions.code of the error at path (e.g. "me",
// "users.2"), or "" when there is none.
func (r gqlResponse) code(path string) string {
	for _, e := range r.Errors {
		if pathString(e.Path) == path {
			c, _ := e.Extensions["code"].(string)
			return c
		}
	}
	return ""
}

func pathString(p []any) string {
	parts := make([]string, len(p))
	for i, x := range p {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, ".")
}

// user decodes data[field] as a user, nil for null.
func (r gqlResponse) user(t testing.TB, field string) *userJSON {
	t.Helper()
	raw, ok := r.Data[field]
	if !ok {
		t.Fatalf("no field %q in %s", field, r.Raw)
	}
	var u *userJSON
	if err := json.Unmarshal(raw, &u); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return u
}

func (r gqlResponse) users(t testing.TB, field string) []*userJSON {
	t.Helper()
	var us []*userJSON
	if err := json.Unmarshal(r.Data[field], &us); err != nil {
		t.Fatalf("decode %s: %v (%s)", field, err, r.Raw)
	}
	return us
}

type userJSON struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Photo *string `json:"photo"`
	Intro *string `json:"intro"`
	Certi *string `json:"certi"`
}

// post sends a GraphQL POST with optional headers (name, value pairs).
func (s *testServer) post(t testing.TB, query string, vars map[string]any, headers ...string) gqlResponse {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, req)
}

// send sends req and returns the response with its body read (and closed).
func send(t testing.TB, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// get is send for GET url.
func get(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, req)
}

func do(t testing.TB, req *http.Request) gqlResponse {
	t.Helper()
	status, _, body := rawResponse(t, req)
	r := gqlResponse{Status: status, Raw: body}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, body)
	}
	return r
}

// idList renders ids as a GraphQL list literal.
func idList(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%q", fmt.Sprint(id))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func ptr2(s string) *string { return &s }

// seqUsers makes n users with ids from first, with every optional field set
// on even ids and none on odd ones.
func seqUsers(first int64, n int) []headline.User {
	us := make([]headline.User, n)
	for i := range us {
		id := first + int64(i)
		us[i] = headline.User{ID: id, Name: fmt.Sprintf("u%d", id)}
		if id%2 == 0 {
			us[i].Photo = ptr2(fmt.Sprintf("https://img.example.com/%d.png", id))
			us[i].Intro = ptr2("intro " + fmt.Sprint(id))
			us[i].Certi = ptr2("certi")
		}
	}
	return us
}
