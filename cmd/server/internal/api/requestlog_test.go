package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/storetest"
)

// loggedServer is the whole server with its log in JSON lines the test reads.
type loggedServer struct {
	*testServer
	logs *storetest.SyncBuffer
}

func newLoggedServer(t *testing.T, adjust ...func(*testConfig)) *loggedServer {
	t.Helper()
	logs := &storetest.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &loggedServer{testServer: newTestServer(t, append(adjust, func(c *testConfig) { c.Log = log })...), logs: logs}
}

// send posts a GraphQL query with an optional X-Request-ID and returns the
// X-Request-ID the server answered with.
func (s *loggedServer) send(t *testing.T, query, requestID string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"query": query})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if requestID != "" {
		req.Header.Set("X-Request-ID", requestID)
	}
	resp, body := servertest.Send(t, req)
	if resp.StatusCode != 200 || strings.Contains(body, `"errors"`) {
		t.Fatalf("%s: %d %s", query, resp.StatusCode, body)
	}
	return resp.Header.Get("X-Request-ID")
}

// lines returns the log records whose request_id is id ("" for all).
func (s *loggedServer) lines(t *testing.T, id string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.logs.String()), "\n") {
		if l == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, l)
		}
		if id == "" || rec["request_id"] == id {
			out = append(out, rec)
		}
	}
	return out
}

// requestLine returns the one "request" record of request id.
func (s *loggedServer) requestLine(t *testing.T, id string) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, rec := range s.lines(t, id) {
		if rec["msg"] == "request" {
			found = append(found, rec)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d request lines for request_id %q, want 1; log:\n%s", len(found), id, s.logs)
	}
	return found[0]
}

// generatedID is the shape of an id the server makes (crypto/rand.Text).
var generatedID = regexp.MustCompile(`^[A-Z2-7]{26}$`)

func TestRequestLog(t *testing.T) {
	s := newLoggedServer(t)
	id := storetest.IDs(t, 6) // id..id+2 exist; id+3 does not; id+4 and id+5 are the herd's and the last test's
	s.ReplaceUsers(t, servertest.SeqUsers(id, 3)...)
	feed := fmt.Sprintf(`query Feed { users(ids: ["%d", "%d", "%d", "%d"]) { id name } }`, id, id+1, id+2, id+3)
	one := fmt.Sprintf(`query One { user(id: "%d") { id } }`, id+1)

	want := wantLine
	check := s.checkLine

	for _, tc := range []struct {
		name, query, sentID string
		keepsID             bool
		want                map[string]any
	}{
		{"cold: 4 misses, 3 rows read (the 4th id has no row)", feed, "", false, want("Feed", 0, 4, 0, 3)},
		{"warm: 4 hits (one of them -1), nothing read", feed, "", false, want("Feed", 4, 0, 0, 0)},
		{"an incoming X-Request-ID is kept", fmt.Sprintf(`{ user(id: "%d") { name } }`, id), "trace-0f3a/web:42", true, want("", 1, 0, 0, 0)},
		{"the longest kept X-Request-ID", one, strings.Repeat("x", 128), true, want("One", 1, 0, 0, 0)},
		{"one too long is replaced", one, strings.Repeat("x", 129), false, want("One", 1, 0, 0, 0)},
		{"one with a space is replaced", one, "a b", false, want("One", 1, 0, 0, 0)},
		{"one not ASCII is replaced", one, "trace-é", false, want("One", 1, 0, 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.send(t, tc.query, tc.sentID)
			switch {
			case tc.keepsID && got != tc.sentID:
				t.Fatalf("X-Request-ID in the response %q, want the one sent, %q", got, tc.sentID)
			case !tc.keepsID && !generatedID.MatchString(got):
				t.Fatalf("X-Request-ID in the response %q, want a generated one (sent %q)", got, tc.sentID)
			}
			check(t, got, tc.want)
		})
	}

	t.Run("ids are not reused", func(t *testing.T) {
		seen := map[string]bool{}
		for _, rec := range s.lines(t, "") {
			id, _ := rec["request_id"].(string)
			if rec["msg"] == "request" && seen[id] {
				t.Errorf("request_id %q on two request lines", id)
			}
			seen[id] = true
		}
	})

	t.Run("a herd on one cold id: each row is counted once, by the request that read it", func(t *testing.T) {
		s.herdOnOneID(t, id+4)
	})

	// Last: it breaks the server's Redis client.
	t.Run("every line of a request carries its id", func(t *testing.T) {
		// An id not loaded before: with the cache unreadable, a load of the
		// last 2 s would be joined instead of read.
		s.ReplaceUsers(t, servertest.SeqUsers(id+5, 1)...)
		_ = s.RDB.Close() // the cache read fails, is logged, and MySQL answers
		s.send(t, fmt.Sprintf(`{ user(id: "%d") { id } }`, id+5), "trace-redis-gone")
		var msgs []string
		for _, rec := range s.lines(t, "trace-redis-gone") {
			msgs = append(msgs, rec["msg"].(string))
		}
		if got, want := strings.Join(msgs, " | "), "cache read failed; loading from the database | request"; got != want {
			t.Errorf("lines with the request's id: %q, want %q", got, want)
		}
		check(t, "trace-redis-gone", want("", 0, 1, 0, 1))
	})
}

// wantLine is what a request line has beyond request_id and time, as JSON
// decodes them; duration_ms is checked apart.
func wantLine(op string, hits, misses, joined, rows float64) map[string]any {
	return map[string]any{"level": "INFO", "msg": "request", "method": "POST", "path": "/graphql", "status": float64(200),
		"operation": op, "cache_hits": hits, "cache_misses": misses, "joined": joined, "sql_rows": rows}
}

// checkLine wants the line of request id to be want.
func (s *loggedServer) checkLine(t *testing.T, id string, want map[string]any) {
	t.Helper()
	got := s.requestLine(t, id)
	if d, ok := got["duration_ms"].(float64); !ok || d <= 0 || d > 10_000 {
		t.Errorf("duration_ms = %v, want a positive number of milliseconds", got["duration_ms"])
	}
	for _, k := range []string{"time", "request_id", "duration_ms"} {
		delete(got, k)
	}
	if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
		t.Errorf("request line\n got  %s\n want %s", g, w)
	}
}

// herdOnOneID sends 16 requests at once for cold, a user no request read
// before, and wants each row counted once, by the request that read it.
func (s *loggedServer) herdOnOneID(t *testing.T, cold int64) {
	s.ReplaceUsers(t, servertest.SeqUsers(cold, 1)...)
	s.ResetCounts()
	const n = 16
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ids[i] = s.send(t, fmt.Sprintf(`{ user(id: "%d") { id } }`, cold), fmt.Sprintf("herd-%d", i)) })
	}
	wg.Wait()
	var hits, own, joined, rows int
	for _, id := range ids {
		l := s.requestLine(t, id)
		h, m, j, r := l["cache_hits"].(float64), l["cache_misses"].(float64), l["joined"].(float64), l["sql_rows"].(float64)
		switch {
		case h == 1 && m == 0 && j == 0 && r == 0:
			hits++
		case h == 0 && m == 1 && j == 1 && r == 0:
			joined++
		case h == 0 && m == 1 && j == 0 && r <= 1:
			own++
		default:
			t.Errorf("%s: hits %v misses %v joined %v rows %v: not one of a hit, a joined miss or a load", id, h, m, j, r)
		}
		rows += int(r)
	}
	if selects := s.SQL.Count("SELECT"); rows != selects {
		t.Errorf("sql_rows add up to %d over the %d lines, but %d SELECTs of one row ran", rows, n, selects)
	}
	t.Logf("%d concurrent requests for one cold id: %d hits, %d joined another's load, %d loaded themselves; %d SELECTs",
		n, hits, joined, own, s.SQL.Count("SELECT"))
}

func TestRequestLogOff(t *testing.T) {
	s := newLoggedServer(t, func(c *testConfig) { c.LogRequests = false })
	id := storetest.IDs(t, 1)
	s.ReplaceUsers(t, servertest.SeqUsers(id, 1)...)
	for _, sent := range []string{"", "trace-off"} {
		got := s.send(t, fmt.Sprintf(`{ user(id: "%d") { id } }`, id), sent)
		if (sent == "" && !generatedID.MatchString(got)) || (sent != "" && got != sent) {
			t.Errorf("sent X-Request-ID %q, got %q back", sent, got)
		}
	}
	if l := s.lines(t, ""); len(l) != 0 {
		t.Errorf("LOG_REQUESTS=false, yet the log has %d lines:\n%s", len(l), s.logs)
	}
}
