package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/persisted"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// apqExtensions is what an Apollo client sends beside (or instead of) the
// query.
func apqExtensions(hash string) map[string]any {
	return map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
}

// apqResponse is a GraphQL answer, the method of its request and the
// Cache-Control it came with.
type apqResponse struct {
	servertest.Response
	Method       string
	CacheControl string
}

func apqDo(t testing.TB, req *http.Request) apqResponse {
	t.Helper()
	resp, body := servertest.Send(t, req)
	r := apqResponse{Response: servertest.Response{Status: resp.StatusCode, Raw: body}, Method: req.Method, CacheControl: resp.Header.Get("Cache-Control")}
	if err := json.Unmarshal([]byte(body), &r.Response); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, body)
	}
	return r
}

// apqPost sends what Apollo Client's persisted-query link sends by POST:
// the hash in extensions, and the query only when query is not empty (the
// retry after PersistedQueryNotFound).
func apqPost(t testing.TB, baseURL, query string, ext map[string]any, vars map[string]any) apqResponse {
	t.Helper()
	body := map[string]any{"variables": vars, "extensions": ext}
	if query != "" {
		body["query"] = query
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, baseURL+"/graphql", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return apqDo(t, req)
}

// apqGet sends the hash by GET, as Apollo Client does with
// useGETForHashedQueries: GET /graphql?variables=…&extensions=…
func apqGet(t testing.TB, baseURL, query string, ext map[string]any, vars map[string]any) apqResponse {
	t.Helper()
	v := url.Values{}
	if query != "" {
		v.Set("query", query)
	}
	if vars != nil {
		b, _ := json.Marshal(vars)
		v.Set("variables", string(b))
	}
	b, _ := json.Marshal(ext)
	v.Set("extensions", string(b))
	req, err := http.NewRequest(http.MethodGet, baseURL+"/graphql?"+v.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return apqDo(t, req)
}

// takeAPQ returns the persisted-query commands rc counted since the last
// take, as "GET=1 SET=0".
func takeAPQ(rc *storetest.RedisCounter) string {
	s := fmt.Sprintf("GET=%d SET=%d", rc.Count("GET"), rc.Count("SET"))
	rc.Reset()
	return s
}

// apqInstance is one server process on a shared Redis, with its persisted-
// query commands counted.
type apqInstance struct {
	URL string
	apq *storetest.RedisCounter
}

// apqSibling starts another server on the Redis of s (not flushed), as a
// second instance behind the load balancer, with its own configuration.
func apqSibling(t *testing.T, s *testServer, opt *redis.Options, adjust ...func(*testConfig)) *apqInstance {
	t.Helper()
	cfg := newTestConfig(adjust...)
	rdb := rediscache.NewClient(opt, cfg.Redis)
	t.Cleanup(func() { _ = rdb.Close() })
	ac := storetest.CountRedisKeys(rdb, persisted.Key(""))
	hs := httptest.NewServer(newTestHandler(t, cfg, s.Base, rdb))
	t.Cleanup(hs.Close)
	return &apqInstance{URL: hs.URL, apq: ac}
}

// wantAPQRefused checks a persisted-query refusal Apollo clients act on:
// PersistedQueryNotFound (retry with the full query) or
// PersistedQueryNotSupported (stop sending hashes). By GET, the only
// cacheable answers, it must say that no cache may keep it.
func wantAPQRefused(t *testing.T, r apqResponse, msg, code string) {
	t.Helper()
	if r.Status != http.StatusOK || len(r.Errors) != 1 || r.Errors[0].Message != msg || r.Code("") != code || r.Data != nil {
		t.Errorf("%s: want 200 and only %s with code %s, got %d %s", r.Method, msg, code, r.Status, r.Raw)
	}
	if want := "private, no-cache, must-revalidate"; r.Method == http.MethodGet && r.CacheControl != want {
		t.Errorf("GET: Cache-Control = %q, want Apollo Server's %q", r.CacheControl, want)
	}
}

func wantNotFound(t *testing.T, r apqResponse) {
	t.Helper()
	wantAPQRefused(t, r, "PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
}

func TestAPQ(t *testing.T) {
	s := newTestServer(t)
	odd := servertest.OddIDs(t, 3) // odd has no optional fields, odd+1 all of them
	s.AddUsers(t, servertest.SeqUsers(odd, 3)...)
	a := &apqInstance{URL: s.URL, apq: storetest.CountRedisKeys(s.RDB, persisted.Key(""))}
	const query = `query Profile($id: ID!) { user(id: $id) { id name photo intro certi } }`
	hash := sha256Hex(query)
	even := odd + 1
	vars := map[string]any{"id": fmt.Sprint(even)}
	want := fmt.Sprintf(`{"data":{"user":{"id":"%[1]d","name":"u%[1]d","photo":"https://img.example.com/%[1]d.png","intro":"intro %[1]d","certi":"certi"}}}`, even)
	if r := s.Post(t, query, vars); r.Raw != want {
		t.Fatalf("the query sent in full answers %s, want %s", r.Raw, want)
	}
	takeAPQ(a.apq)

	t.Run("hash only, unknown: PersistedQueryNotFound after one Redis GET", func(t *testing.T) {
		wantNotFound(t, apqGet(t, a.URL, "", apqExtensions(hash), vars))
		if got := takeAPQ(a.apq); got != "GET=1 SET=0" {
			t.Errorf("persisted-query commands: %s, want GET=1 SET=0", got)
		}
		wantNotFound(t, apqPost(t, a.URL, "", apqExtensions(hash), vars))
	})

	t.Run("query and hash: runs, and is stored in Redis for 24h", func(t *testing.T) {
		takeAPQ(a.apq)
		r := apqPost(t, a.URL, query, apqExtensions(hash), vars)
		if r.Raw != want {
			t.Fatalf("got %s, want %s", r.Raw, want)
		}
		if got := takeAPQ(a.apq); got != "GET=0 SET=1" {
			t.Errorf("persisted-query commands: %s, want GET=0 SET=1", got)
		}
		ctx := context.Background()
		if got, err := s.Redis.Raw.Get(ctx, "headline:apq:"+hash).Result(); err != nil || got != query {
			t.Errorf("GET headline:apq:<hash> = %q, %v; want the query byte for byte", got, err)
		}
		if ttl := s.Redis.TTL(t, "headline:apq:"+hash); ttl <= 24*time.Hour-10*time.Second || ttl > 24*time.Hour {
			t.Errorf("TTL = %v, want 24h (APQ_TTL's default)", ttl)
		}
		if keys, err := s.Redis.Raw.Keys(ctx, "headline:apq:*").Result(); err != nil || len(keys) != 1 {
			t.Errorf("headline:apq:* = %v, %v; want the one query", keys, err)
		}
	})

	t.Run("hash only, by GET and by POST: the same answer, 0 Redis commands", func(t *testing.T) {
		for _, send := range []func(testing.TB, string, string, map[string]any, map[string]any) apqResponse{apqGet, apqPost} {
			r := send(t, a.URL, "", apqExtensions(hash), vars)
			if r.Raw != want || r.CacheControl != "" {
				t.Errorf("got %s (Cache-Control %q), want %s", r.Raw, r.CacheControl, want)
			}
		}
		if got := takeAPQ(a.apq); got != "GET=0 SET=0" {
			t.Errorf("persisted-query commands: %s, want none (LRU hits)", got)
		}
	})

	t.Run("a second instance on the same Redis: one GET, then its LRU", func(t *testing.T) {
		b := apqSibling(t, s, s.Redis.Options())
		for i, wantCmds := range []string{"GET=1 SET=0", "GET=0 SET=0", "GET=0 SET=0"} {
			r := apqGet(t, b.URL, "", apqExtensions(hash), map[string]any{"id": fmt.Sprint(even)})
			if r.Raw != want {
				t.Errorf("request %d: got %s, want %s", i+1, r.Raw, want)
			}
			if got := takeAPQ(b.apq); got != wantCmds {
				t.Errorf("request %d: persisted-query commands %s, want %s", i+1, got, wantCmds)
			}
		}
	})

	t.Run("other variables with the same hash", func(t *testing.T) {
		r := apqGet(t, a.URL, "", apqExtensions(hash), map[string]any{"id": fmt.Sprint(odd)})
		if got := r.User(t, "user"); got == nil || got.ID != fmt.Sprint(odd) || got.Name != fmt.Sprintf("u%d", odd) || got.Photo != nil {
			t.Errorf("got %s, want user %d", r.Raw, odd)
		}
	})
}

func TestAPQRefusals(t *testing.T) {
	s := newTestServer(t)
	id := storetest.IDs(t, 1)
	s.AddUsers(t, servertest.SeqUsers(id, 1)...)
	ac := storetest.CountRedisKeys(s.RDB, persisted.Key(""))
	query := fmt.Sprintf(`{ user(id: "%d") { id } }`, id)
	for _, tc := range []struct {
		name     string
		query    string
		ext      map[string]any
		wantMsg  string
		wantCode string
	}{
		{"a hash that is not the query's", query, apqExtensions(sha256Hex(query + " ")),
			"provided APQ hash does not match query", "BAD_USER_INPUT"},
		{"the hash in upper case", query, apqExtensions(strings.ToUpper(sha256Hex(query))),
			"provided APQ hash does not match query", "BAD_USER_INPUT"},
		{"version 2", query, map[string]any{"persistedQuery": map[string]any{"version": 2, "sha256Hash": sha256Hex(query)}},
			"unsupported APQ version", "BAD_USER_INPUT"},
		{"persistedQuery not an object", query, map[string]any{"persistedQuery": "yes"},
			"invalid APQ extension data", "BAD_USER_INPUT"},
		{"hash only, not a SHA-256", "", apqExtensions("abc"),
			"PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			takeAPQ(ac)
			for _, send := range []func(testing.TB, string, string, map[string]any, map[string]any) apqResponse{apqPost, apqGet} {
				r := send(t, s.URL, tc.query, tc.ext, nil)
				if len(r.Errors) != 1 || r.Errors[0].Message != tc.wantMsg || r.Code("") != tc.wantCode || r.Data != nil {
					t.Errorf("got %d %s, want only %q with code %s", r.Status, r.Raw, tc.wantMsg, tc.wantCode)
				}
			}
			if got := takeAPQ(ac); got != "GET=0 SET=0" {
				t.Errorf("persisted-query commands: %s, want none", got)
			}
		})
	}
	if keys, err := s.Redis.Raw.Keys(context.Background(), "headline:apq:*").Result(); err != nil || len(keys) != 0 {
		t.Errorf("headline:apq:* = %v, %v; want nothing stored", keys, err)
	}
}

func TestAPQOff(t *testing.T) {
	s := newTestServer(t, func(c *testConfig) { c.APQ = false })
	id := storetest.IDs(t, 1)
	s.AddUsers(t, servertest.SeqUsers(id, 1)...)
	ac := storetest.CountRedisKeys(s.RDB, persisted.Key(""))
	query := fmt.Sprintf(`{ user(id: "%d") { id name } }`, id)
	hash := sha256Hex(query)
	want := fmt.Sprintf(`{"data":{"user":{"id":"%d","name":"u%d"}}}`, id, id)

	for _, send := range []func(testing.TB, string, string, map[string]any, map[string]any) apqResponse{apqGet, apqPost} {
		wantAPQRefused(t, send(t, s.URL, "", apqExtensions(hash), nil), "PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED")
		if r := send(t, s.URL, query, apqExtensions(hash), nil); r.Raw != want {
			t.Errorf("query and hash: got %s, want it run as if it had no hash: %s", r.Raw, want)
		}
	}
	if got := takeAPQ(ac); got != "GET=0 SET=0" {
		t.Errorf("persisted-query commands: %s, want none", got)
	}
}

func TestAPQRedisDown(t *testing.T) {
	rs := storetest.StartRedisServer(t)
	s := newTestServerOnRedis(t, &redis.Options{Addr: rs.Addr})
	id := storetest.IDs(t, 2)
	s.AddUsers(t, servertest.SeqUsers(id, 2)...)
	ac := storetest.CountRedisKeys(s.RDB, persisted.Key(""))
	registered := fmt.Sprintf(`{ user(id: "%d") { id name } }`, id)
	if r := apqPost(t, s.URL, registered, apqExtensions(sha256Hex(registered)), nil); len(r.Errors) > 0 {
		t.Fatalf("register: %s", r.Raw)
	}
	if got := takeAPQ(ac); got != "GET=0 SET=1" {
		t.Fatalf("register: persisted-query commands %s, want one SET", got)
	}

	t.Run("Redis hung: a persisted-query call gives up after REDIS_READ_TIMEOUT", func(t *testing.T) {
		s.apqRedisHung(t, rs.Addr, id+1, ac)
	})

	rs.Kill()
	// Enough requests that the breaker opens (5 failures) and the rest skip
	// Redis, and each one timed: none may wait long for the dead Redis.
	var slowest time.Duration
	timed := func(f func() apqResponse) apqResponse {
		start := time.Now()
		r := f()
		slowest = max(slowest, time.Since(start))
		return r
	}
	t.Run("a registered query is served from the LRU", func(t *testing.T) {
		for range 10 {
			r := timed(func() apqResponse { return apqGet(t, s.URL, "", apqExtensions(sha256Hex(registered)), nil) })
			if r.Raw != fmt.Sprintf(`{"data":{"user":{"id":"%d","name":"u%d"}}}`, id, id) {
				t.Fatalf("got %s", r.Raw)
			}
		}
		if got := takeAPQ(ac); got != "GET=0 SET=0" {
			t.Errorf("persisted-query commands: %s, want none (LRU)", got)
		}
	})
	t.Run("an unknown hash is not found, and registering it works", func(t *testing.T) {
		for i := range 10 {
			q := fmt.Sprintf(`query Q%d { user(id: "%d") { id name } }`, i, id+1)
			h := sha256Hex(q)
			wantNotFound(t, timed(func() apqResponse { return apqGet(t, s.URL, "", apqExtensions(h), nil) }))
			want := fmt.Sprintf(`{"data":{"user":{"id":"%d","name":"u%d"}}}`, id+1, id+1)
			if r := timed(func() apqResponse { return apqPost(t, s.URL, q, apqExtensions(h), nil) }); r.Raw != want {
				t.Fatalf("register with Redis down: got %s", r.Raw)
			}
			if r := timed(func() apqResponse { return apqGet(t, s.URL, "", apqExtensions(h), nil) }); r.Raw != want {
				t.Fatalf("hash only after registering with Redis down: got %s", r.Raw)
			}
		}
		// Profile lookups and persisted queries share the breaker, which
		// the failures above opened: these calls mostly never reach Redis.
		t.Logf("persisted-query commands tried with Redis down: %s", takeAPQ(ac))
	})
	t.Logf("slowest request with Redis down: %v", slowest)
	if slowest > 500*time.Millisecond {
		t.Errorf("slowest request with Redis down took %v, want well under 500ms (REDIS_READ_TIMEOUT 100ms)", slowest)
	}
}

// apqRedisHung pauses the Redis at addr and wants each persisted-query call
// to give up after REDIS_READ_TIMEOUT, for queries of user id, with the
// commands ac counts.
func (s *testServer) apqRedisHung(t *testing.T, addr string, id int64, ac *storetest.RedisCounter) {
	raw := redis.NewClient(&redis.Options{Addr: addr})
	defer raw.Close()
	if err := raw.Do(context.Background(), "CLIENT", "PAUSE", "3000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	q := fmt.Sprintf(`query Hung { user(id: "%d") { id } }`, id)
	h := sha256Hex(q)
	for _, step := range []struct {
		name     string
		send     func() apqResponse
		wantCmds string
		want     string // "": PersistedQueryNotFound
	}{
		{"hash only, unknown", func() apqResponse { return apqGet(t, s.URL, "", apqExtensions(h), nil) }, "GET=1 SET=0", ""},
		{"query and hash", func() apqResponse { return apqPost(t, s.URL, q, apqExtensions(h), nil) }, "GET=0 SET=1", fmt.Sprintf(`{"data":{"user":{"id":"%d"}}}`, id)},
		{"hash only, just registered", func() apqResponse { return apqGet(t, s.URL, "", apqExtensions(h), nil) }, "GET=0 SET=0", fmt.Sprintf(`{"data":{"user":{"id":"%d"}}}`, id)},
	} {
		start := time.Now()
		r := step.send()
		d := time.Since(start)
		if step.want == "" {
			wantNotFound(t, r)
		} else if r.Raw != step.want {
			t.Errorf("%s: got %s, want %s", step.name, r.Raw, step.want)
		}
		if got := takeAPQ(ac); got != step.wantCmds {
			t.Errorf("%s: persisted-query commands %s, want %s", step.name, got, step.wantCmds)
		}
		// At most one timeout for the persisted query and one for the
		// profile lookup.
		t.Logf("%s with Redis hung: %v", step.name, d)
		if d > 2*s.cfg.Redis.ReadTimeout+150*time.Millisecond {
			t.Errorf("%s took %v with Redis hung, want ≤ 2 × REDIS_READ_TIMEOUT (%v) and a margin", step.name, d, s.cfg.Redis.ReadTimeout)
		}
	}
}

// TestAPQLimits: a persisted query is held to the same limits as one sent
// in full, whatever instance stored it: here a looser one, as during a
// rollout that tightens a limit.
func TestAPQLimits(t *testing.T) {
	s := newTestServer(t)
	id := storetest.IDs(t, 2)
	s.AddUsers(t, servertest.SeqUsers(id, 2)...)
	loose := &apqInstance{URL: s.URL, apq: storetest.CountRedisKeys(s.RDB, persisted.Key(""))}
	for _, tc := range []struct {
		name   string
		adjust func(*testConfig)
		query  string
	}{
		{"depth", func(c *testConfig) { c.GraphQL.MaxDepth = 1 }, fmt.Sprintf(`{ user(id: "%d") { id } }`, id)},
		{"aliases", func(c *testConfig) { c.GraphQL.MaxAliases = 1 }, fmt.Sprintf(`{ a: user(id: "%d") { id } b: user(id: "%d") { id } }`, id, id+1)},
		{"fields", func(c *testConfig) { c.GraphQL.MaxFields = 2 }, fmt.Sprintf(`{ user(id: "%d") { id name } }`, id)},
		{"tokens", func(c *testConfig) { c.GraphQL.MaxTokens = 10 }, fmt.Sprintf(`{ user(id: "%d") { id name photo intro certi } }`, id)},
		{"complexity", func(c *testConfig) { c.GraphQL.ComplexityLimit = 2 }, fmt.Sprintf(`{ users(ids: ["%d", "%d"]) { id } }`, id, id+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hash := sha256Hex(tc.query)
			if r := apqPost(t, loose.URL, tc.query, apqExtensions(hash), nil); len(r.Errors) > 0 {
				t.Fatalf("the loose instance refused it: %s", r.Raw)
			}
			strict := apqSibling(t, s, s.Redis.Options(), tc.adjust)
			full := apqPost(t, strict.URL, tc.query, nil, nil)
			if full.Status == http.StatusOK && len(full.Errors) == 0 {
				t.Fatalf("the strict instance ran the full query: %s", full.Raw)
			}
			for _, send := range []func(testing.TB, string, string, map[string]any, map[string]any) apqResponse{apqGet, apqPost} {
				r := send(t, strict.URL, "", apqExtensions(hash), nil)
				if r.Status != full.Status || !reflect.DeepEqual(r.Errors, full.Errors) || r.Data != nil {
					t.Errorf("by hash: %d %s\nin full: %d %s", r.Status, r.Raw, full.Status, full.Raw)
				}
			}
			if got := takeAPQ(strict.apq); got != "GET=1 SET=0" {
				t.Errorf("strict instance: persisted-query commands %s, want one GET (then its LRU)", got)
			}
		})
	}

	t.Run("a query a limit refuses is not stored", func(t *testing.T) {
		strict := apqSibling(t, s, s.Redis.Options(), func(c *testConfig) { c.GraphQL.MaxDepth = 1 })
		q := fmt.Sprintf(`query Deep { user(id: "%d") { id } }`, id+1)
		r := apqPost(t, strict.URL, q, apqExtensions(sha256Hex(q)), nil)
		if r.Code("") != "GRAPHQL_VALIDATION_FAILED" {
			t.Errorf("query and hash over the depth limit: got %s", r.Raw)
		}
		if got := takeAPQ(strict.apq); got != "GET=0 SET=0" {
			t.Errorf("persisted-query commands: %s, want none", got)
		}
		wantNotFound(t, apqGet(t, strict.URL, "", apqExtensions(sha256Hex(q)), nil))
		wantNotFound(t, apqGet(t, loose.URL, "", apqExtensions(sha256Hex(q)), nil))
	})
}

// TestAPQSizeBound: what one registration can put in Redis is bounded by
// APQ_MAX_QUERY_BYTES: a longer query runs but is not stored. Only a query
// that parses, validates and passes every limit is stored, but a comment is
// none of those, so without the bound a valid query padded with one would be
// stored up to the request size limits: MAX_BODY_BYTES for POST, the 64 KiB
// header limit for GET.
func TestAPQSizeBound(t *testing.T) {
	s := newTestServer(t)
	id := storetest.IDs(t, 1)
	s.AddUsers(t, servertest.SeqUsers(id, 1)...)
	ac := storetest.CountRedisKeys(s.RDB, persisted.Key(""))
	limit := int(s.cfg.API.MaxBodyBytes)
	answer := fmt.Sprintf(`{"data":{"user":{"id":"%d"}}}`, id)
	// sized returns a query of exactly n bytes.
	sized := func(n int) string {
		q := fmt.Sprintf(`{ user(id: "%d") { id } }`, id) + "\n#"
		return q + strings.Repeat("x", n-len(q))
	}
	// padded returns a query whose POST body is exactly n bytes.
	padded := func(n int) string {
		body := func(q string) int {
			b, _ := json.Marshal(map[string]any{"variables": nil, "extensions": apqExtensions(sha256Hex(q)), "query": q})
			return len(b)
		}
		base := sized(64)
		return sized(64 + n - body(base))
	}

	c := &apqSizes{s: s, ac: ac, limit: limit, answer: answer, sized: sized, padded: padded}
	t.Run("a query of APQ_MAX_QUERY_BYTES is stored; one byte more runs, is not stored, and is asked for again", c.maxQueryBytes)
	t.Run("a body of MAX_BODY_BYTES runs, and is not stored", c.maxBodyBytes)
	t.Run("one byte more is 413 and nothing is stored", c.overBody)
	t.Run("GET: a URL over the header limit (64 KiB, and net/http's 4 KiB of slack) is 431", c.overHeader)
}

// apqSizes is TestAPQSizeBound's server, its persisted-query commands, MAX_BODY_BYTES, the answer of its queries, and its queries of a size: sized(n) of n bytes, padded(n) of a POST body of n bytes.
type apqSizes struct {
	s      *testServer
	ac     *storetest.RedisCounter
	limit  int
	answer string
	sized  func(int) string
	padded func(int) string
}

func (c *apqSizes) maxQueryBytes(t *testing.T) {
	s, ac, answer, sized := c.s, c.ac, c.answer, c.sized
	for _, tc := range []struct {
		n      int
		stored bool
	}{{s.cfg.GraphQL.APQMaxBytes, true}, {s.cfg.GraphQL.APQMaxBytes + 1, false}} {
		q := sized(tc.n)
		takeAPQ(ac)
		if r := apqPost(t, s.URL, q, apqExtensions(sha256Hex(q)), nil); r.Raw != answer {
			t.Fatalf("%d bytes with its hash: %d %.200s", tc.n, r.Status, r.Raw)
		}
		n, err := s.Redis.Raw.StrLen(context.Background(), persisted.Key(sha256Hex(q))).Result()
		if err != nil || (tc.stored && int(n) != len(q)) || (!tc.stored && n != 0) {
			t.Errorf("%d bytes: STRLEN = %d, %v; stored: %v", tc.n, n, err, tc.stored)
		}
		wantCmds := "GET=0 SET=0"
		if tc.stored {
			wantCmds = "GET=0 SET=1"
		}
		if got := takeAPQ(ac); got != wantCmds {
			t.Errorf("%d bytes: persisted-query commands %s, want %s", tc.n, got, wantCmds)
		}
		r := apqPost(t, s.URL, "", apqExtensions(sha256Hex(q)), nil)
		if tc.stored && r.Raw != answer {
			t.Errorf("%d bytes, then the hash alone: %d %.200s", tc.n, r.Status, r.Raw)
		}
		if !tc.stored {
			wantAPQRefused(t, r, "PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
		}
	}
}

func (c *apqSizes) maxBodyBytes(t *testing.T) {
	s, ac, limit, answer, padded := c.s, c.ac, c.limit, c.answer, c.padded
	takeAPQ(ac)
	q := padded(limit)
	if r := apqPost(t, s.URL, q, apqExtensions(sha256Hex(q)), nil); r.Raw != answer {
		t.Fatalf("got %d %.200s", r.Status, r.Raw)
	}
	if got := takeAPQ(ac); got != "GET=0 SET=0" {
		t.Errorf("persisted-query commands: %s, want none", got)
	}
}

func (c *apqSizes) overBody(t *testing.T) {
	s, ac, limit, padded := c.s, c.ac, c.limit, c.padded
	takeAPQ(ac)
	q := padded(limit + 1)
	if r := apqPost(t, s.URL, q, apqExtensions(sha256Hex(q)), nil); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("got %d %.200s, want 413", r.Status, r.Raw)
	}
	if got := takeAPQ(ac); got != "GET=0 SET=0" {
		t.Errorf("persisted-query commands: %s, want none", got)
	}
}

func (c *apqSizes) overHeader(t *testing.T) {
	s := c.s
	addr := strings.TrimPrefix(serveFromServer(t, s.Handler), "http://")
	for _, tc := range []struct {
		pad        int
		wantStatus int
	}{{60 << 10, http.StatusOK}, {68 << 10, http.StatusRequestHeaderFieldsTooLarge}} {
		q := `{ user(id: "1") { id } }` + "\n#" + strings.Repeat("x", tc.pad)
		r, err := http.Get("http://" + addr + "/graphql?" + url.Values{
			"query": {q}, "extensions": {`{"persistedQuery":{"version":1,"sha256Hash":"` + sha256Hex(q) + `"}}`},
		}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		_ = r.Body.Close()
		if r.StatusCode != tc.wantStatus {
			t.Errorf("GET with a %d-byte query: %d, want %d", len(q), r.StatusCode, tc.wantStatus)
		}
	}
}

// TestAPQBreakerApart: persisted queries have circuit breakers of their
// own, so that neither their misses nor their failures keep profile
// lookups off Redis.
func TestAPQBreakerApart(t *testing.T) {
	id := storetest.IDs(t, 1)
	profile := fmt.Sprintf(`{ user(id: "%d") { id name } }`, id)
	wantProfile := fmt.Sprintf(`{"data":{"user":{"id":"%d","name":"u%d"}}}`, id, id)
	// unknownHashes sends hash-only requests for queries nobody registered,
	// enough to open a breaker twice over.
	unknownHashes := func(t *testing.T, s *testServer) {
		t.Helper()
		for i := range 2 * s.cfg.Breaker.Failures {
			wantNotFound(t, apqGet(t, s.URL, "", apqExtensions(sha256Hex(fmt.Sprintf("query Unknown%d { __typename }", i))), nil))
		}
	}
	// profileFromCache reads the warm profile and wants it read from Redis.
	profileFromCache := func(t *testing.T, s *testServer) {
		t.Helper()
		s.ResetCounts()
		if r := s.Post(t, profile, nil); r.Raw != wantProfile {
			t.Fatalf("got %s, want %s", r.Raw, wantProfile)
		}
		if got := s.RC.Count("MGET"); got != 1 {
			t.Errorf("MGET = %d, want 1: the profile cache's breaker kept the lookup off Redis (%s)", got, s.RC)
		}
		if got := s.SQL.Count("SELECT"); got != 0 {
			t.Errorf("SELECT = %d, want 0", got)
		}
	}

	t.Run("a hash Redis does not hold is an answer, not a failure", func(t *testing.T) {
		s := newTestServer(t)
		s.AddUsers(t, servertest.SeqUsers(id, 1)...)
		s.Post(t, profile, nil) // warm
		unknownHashes(t, s)
		profileFromCache(t, s)
		if _, body := servertest.Get(t, s.URL+"/readyz"); !strings.Contains(body, `"apq_breaker":"closed"`) || !strings.Contains(body, `"redis_breaker":"closed"`) {
			t.Errorf("/readyz = %s, want both breakers closed", body)
		}
	})

	t.Run("persisted queries failing open their breaker only", func(t *testing.T) {
		// A Redis whose user may touch the Flask app's keys only: every
		// persisted-query command fails (NOPERM), every profile one works.
		rs := storetest.StartRedisServer(t)
		admin := redis.NewClient(&redis.Options{Addr: rs.Addr})
		defer admin.Close()
		if err := admin.Do(context.Background(), "ACL", "SETUSER", "profiles", "on", ">secret", "~user:*", "~{user:*", "+@all").Err(); err != nil {
			t.Fatal(err)
		}
		s := newTestServerOnRedis(t, &redis.Options{Addr: rs.Addr, Username: "profiles", Password: "secret"})
		s.Post(t, profile, nil) // warm
		unknownHashes(t, s)
		profileFromCache(t, s)
		if _, body := servertest.Get(t, s.URL+"/readyz"); !strings.Contains(body, `"apq_breaker":"open"`) || !strings.Contains(body, `"redis_breaker":"closed"`) {
			t.Errorf("/readyz = %s, want the persisted queries' breaker open and the profile cache's closed", body)
		}
	})
}

// apqRegister registers query by POST, as Apollo Client does after
// PersistedQueryNotFound, from the client address xff names to a server
// that reads X-Forwarded-For ("": no header, the TCP peer counts).
func apqRegister(t testing.TB, baseURL, query, xff string) apqResponse {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"query": query, "extensions": apqExtensions(sha256Hex(query))})
	req, err := http.NewRequest(http.MethodPost, baseURL+"/graphql", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", "198.51.100.7, "+xff)
	}
	return apqDo(t, req)
}

// registration reads what a response says of its registration: "" when
// nothing (stored, or nothing to store), else the code of the refusal.
func (r apqResponse) registration(t testing.TB) string {
	t.Helper()
	var body struct {
		Extensions struct {
			PersistedQuery *struct {
				Registered bool   `json:"registered"`
				Code       string `json:"code"`
				Message    string `json:"message"`
			} `json:"persistedQuery"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &body); err != nil {
		t.Fatalf("%v: %s", err, r.Raw)
	}
	pq := body.Extensions.PersistedQuery
	if pq == nil {
		return ""
	}
	if pq.Registered || pq.Message == "" {
		t.Errorf("extensions.persistedQuery = %+v, want registered false and a message", *pq)
	}
	return pq.Code
}

// TestAPQRegistrationFlood: a flood of distinct registrations, from one
// client and from thousands, on a Redis shared with the profile cache
// under maxmemory and allkeys-lru (the usual production setting), is
// refused past its budgets, so the profile entries stay and are read 100%
// from the cache; every refused registration still answers its data.
func TestAPQRegistrationFlood(t *testing.T) {
	const maxmemory = 6 << 20
	rs := storetest.StartRedisServer(t, "--maxmemory", fmt.Sprint(maxmemory), "--maxmemory-policy", "allkeys-lru")
	const budget, perClient = 1 << 20, 20
	cfg := func(c *testConfig) {
		c.PersistedQueries.Limits.Bytes, c.PersistedQueries.Limits.PerClient, c.API.ClientIPHeader = budget, perClient, "X-Forwarded-For"
		c.LogRequests = false
	}
	s := newTestServerOnRedis(t, &redis.Options{Addr: rs.Addr}, cfg)
	raw := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer raw.Close()
	ctx := context.Background()

	users := servertest.SeqUsers(storetest.IDs(t, 100), 100)
	ids := make([]int64, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	s.AddUsers(t, users...)
	f := flood{id: ids[0]}
	feed := fmt.Sprintf(`{ users(ids: %s) { id name } }`, servertest.IDList(ids))
	if r := s.Post(t, feed, nil); len(r.Errors) > 0 {
		t.Fatalf("warm: %s", r.Raw)
	}
	t.Run("one client: refused past APQ_CLIENT_REGISTRATIONS", func(t *testing.T) {
		if got := f.register(t, s.URL, 0, 200, func(int) string { return "" }); got != 200-perClient {
			t.Errorf("%d of 200 registrations refused, want %d (all but %d)", got, 200-perClient, perClient)
		}
	})

	t.Run("thousands of clients: refused past APQ_REGISTRATION_BYTES", func(t *testing.T) {
		const n = 2000 // 16 MiB of queries, over twice maxmemory
		refused := f.register(t, s.URL, 200, n, func(i int) string { return fmt.Sprintf("2001:db8:%x::1", i) })
		cost := len(persisted.Key(sha256Hex(f.query(0)))) + len(f.query(0)) + persisted.RegistrationOverhead
		stored := budget/cost - perClient // what the one client's left
		if refused != n-stored {
			t.Errorf("%d of %d registrations refused, want %d (the %d-byte budget holds %d of %d bytes, the first client's %d included)",
				refused, n, n-stored, budget, budget/cost, cost, perClient)
		}
		keys, err := raw.Keys(ctx, persisted.Key("*")).Result()
		if err != nil || len(keys) != budget/cost {
			t.Errorf("headline:apq:* = %d keys, %v; want %d", len(keys), err, budget/cost)
		}
		t.Logf("stored %d queries of %d bytes each (%d bytes charged); Redis used_memory %d of maxmemory %d",
			len(keys), len(f.query(0)), cost, storetest.RedisInfoInt(t, raw, "memory", "used_memory"), maxmemory)
	})

	t.Run("every profile entry stayed, and is read from the cache", func(t *testing.T) {
		wantProfilesCached(t, s, raw, ids)
	})

	t.Run("an Apollo client whose registration is refused still works", func(t *testing.T) {
		// As large as a flood query: what the budget has left is less.
		q := fmt.Sprintf("query Late { user(id: \"%d\") { id name } }\n#", ids[1])
		q += strings.Repeat("x", 8<<10-len(q))
		want := fmt.Sprintf(`{"data":{"user":{"id":"%d","name":"u%d"}},"extensions":{"persistedQuery":`, ids[1], ids[1])
		for range 2 {
			wantNotFound(t, apqPost(t, s.URL, "", apqExtensions(sha256Hex(q)), nil))
			r := apqRegister(t, s.URL, q, "192.0.2.1")
			if !strings.HasPrefix(r.Raw, want) || r.registration(t) != "PERSISTED_QUERY_REGISTRATION_LIMITED" {
				t.Errorf("registration with the budget spent: %s, want the data and the refusal", r.Raw)
			}
		}
	})

	t.Run("a query already stored costs nothing: registering it again is no refusal", func(t *testing.T) {
		// The thousands' first registration, stored before the budget ran out.
		r := apqRegister(t, s.URL, f.query(200), "192.0.2.2")
		if r.Raw != f.answer() {
			t.Errorf("got %.300s, want %s alone", r.Raw, f.answer())
		}
	})
}

// wantProfilesCached wants Redis to have evicted nothing, to hold the
// profile of every id, and a read of them all to be one MGET and no SELECT.
func wantProfilesCached(t *testing.T, s *testServer, raw *redis.Client, ids []int64) {
	t.Helper()
	if n := storetest.RedisInfoInt(t, raw, "stats", "evicted_keys"); n != 0 {
		t.Errorf("Redis evicted %d keys", n)
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = rediscache.ProfileKey(id)
	}
	if n, err := raw.Exists(context.Background(), keys...).Result(); err != nil || n != int64(len(ids)) {
		t.Errorf("%d of %d profile entries in Redis (%v)", n, len(ids), err)
	}
	s.ResetCounts()
	r := s.Post(t, fmt.Sprintf(`{ users(ids: %s) { id name } }`, servertest.IDList(ids)), nil)
	if len(r.Errors) > 0 || len(r.Users(t, "users")) != len(ids) {
		t.Fatalf("feed: %.300s", r.Raw)
	}
	if got := s.SQL.Count("SELECT"); got != 0 {
		t.Errorf("SELECT = %d, want 0: every profile a cache hit", got)
	}
	if got := s.RC.Count("MGET"); got != 1 {
		t.Errorf("MGET = %d, want 1 (%s)", got, s.RC)
	}
}

// flood is distinct valid queries of 8 KiB, each of user id.
type flood struct{ id int64 }

// answer is what every flood query answers.
func (f flood) answer() string { return fmt.Sprintf(`{"data":{"user":{"id":"%d"}}}`, f.id) }

// query returns the i-th flood query.
func (f flood) query(i int) string {
	q := fmt.Sprintf("{ user(id: \"%d\") { id } }\n# flood %d ", f.id, i)
	return q + strings.Repeat("x", 8<<10-len(q))
}

// register registers flood queries from..from+n-1 from 4 clients at once,
// each from the address addr(i) names, wants each answered, and returns how
// many were refused.
func (f flood) register(t *testing.T, url string, from, n int, addr func(i int) string) (refused int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range next {
				r := apqRegister(t, url, f.query(i), addr(i))
				code := r.registration(t)
				if answer := f.answer(); r.Raw != answer && !strings.HasPrefix(r.Raw, answer[:len(answer)-1]+`,"extensions"`) {
					t.Errorf("registration %d: %.300s, want the data", i, r.Raw)
				}
				mu.Lock()
				if code == "PERSISTED_QUERY_REGISTRATION_LIMITED" {
					refused++
				} else if code != "" {
					t.Errorf("registration %d: code %q", i, code)
				}
				mu.Unlock()
			}
		})
	}
	for i := from; i < from+n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return refused
}
