package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/storetest"
)

// tracedServer is a test server whose spans are exported, synchronously as
// each ends, to exp.
func tracedServer(t *testing.T) (*testServer, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return newTestServer(t, func(c *testConfig) { c.Tracer = tp }), exp
}

// serveGraphQL sends one POST /graphql through the handler and returns when
// the handler has, by which time every span of the request has ended.
func serveGraphQL(t *testing.T, s *testServer, body string, headers ...string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	s.Handler.ServeHTTP(w, req)
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), `"errors"`) {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	return w.Body.String()
}

// isRedis reports whether s is a Redis command's span.
func isRedis(s tracetest.SpanStub) bool {
	v, _ := attr(s, "db.system")
	return v.AsString() == "redis"
}

// tree describes spans as sorted "parent > child" lines by name: "(root)"
// for a span without a parent, "(remote)" for one whose parent came in a
// traceparent header. Spans under a Redis command are left out: they are
// the handshake of a connection the command opened (hello, client setinfo,
// select), which depends on the pool, not on the request.
func tree(spans tracetest.SpanStubs) []string {
	names := map[string]string{}
	redisSpans := map[string]bool{}
	for _, s := range spans {
		names[s.SpanContext.SpanID().String()] = s.Name
		redisSpans[s.SpanContext.SpanID().String()] = isRedis(s)
	}
	var out []string
	for _, s := range spans {
		if redisSpans[s.Parent.SpanID().String()] {
			continue
		}
		parent := "(root)"
		switch {
		case s.Parent.IsRemote():
			parent = "(remote)"
		case s.Parent.IsValid():
			parent = names[s.Parent.SpanID().String()]
			if parent == "" {
				parent = "(a span not exported)"
			}
		}
		out = append(out, parent+" > "+s.Name)
	}
	slices.Sort(out)
	return out
}

// traceIDs returns the distinct trace ids of spans.
func traceIDs(spans tracetest.SpanStubs) []string {
	var ids []string
	for _, s := range spans {
		if id := s.SpanContext.TraceID().String(); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func span(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	for _, s := range spans {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no span %q in %v", name, tree(spans))
	return tracetest.SpanStub{}
}

func attr(s tracetest.SpanStub, key string) (attribute.Value, bool) {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value, true
		}
	}
	return attribute.Value{}, false
}

func diffLines(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("spans:\ngot\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// oneTrace serves one GraphQL request and returns its spans, which must be
// one trace.
func oneTrace(t *testing.T, s *testServer, exp *tracetest.InMemoryExporter, body string, headers ...string) tracetest.SpanStubs {
	t.Helper()
	exp.Reset()
	serveGraphQL(t, s, body, headers...)
	spans := exp.GetSpans()
	if ids := traceIDs(spans); len(ids) != 1 {
		t.Errorf("%d traces %v, want 1", len(ids), ids)
	}
	return spans
}

// tracingCase is TestTracing's server, its spans, and the feed of its users
// id..id+2 (and id+3, who does not exist); id+4 is updateMe's.
type tracingCase struct {
	s    *testServer
	exp  *tracetest.InMemoryExporter
	id   int64
	feed string
}

func TestTracing(t *testing.T) {
	s, exp := tracedServer(t)
	id := storetest.IDs(t, 5)
	s.ReplaceUsers(t, servertest.SeqUsers(id, 3)...)
	// Three users and an id with none: the fill writes three profiles and a -1.
	feed := fmt.Sprintf(`{"query":"query Feed { users(ids: [\"%d\", \"%d\", \"%d\", \"%d\"]) { id name } }"}`, id, id+1, id+2, id+3)
	c := &tracingCase{s: s, exp: exp, id: id, feed: feed}

	t.Run("a cold users(ids:) is one trace: HTTP, the operation, its resolver and the planned batch's MGET, lease, SELECT and fill", c.coldFeed)
	t.Run("a warm one is the MGET alone", c.warmFeed)
	t.Run("two requests are two traces", c.twoRequests)
	t.Run("an incoming traceparent is continued", c.traceparent)
	t.Run("updateMe: the resolver parents the account lookup, its detached load, the transaction and the invalidation", c.updateMe)
	t.Run("probes and their Redis and SQL calls are not traced", c.probes)
}

func (c *tracingCase) coldFeed(t *testing.T) {
	s, exp, feed, id := c.s, c.exp, c.feed, c.id
	spans := oneTrace(t, s, exp, feed)
	// The lookups are planned, and their batch started, before any
	// resolver runs: the batch's calls are the operation's children,
	// beside the resolver that waits for them.
	diffLines(t, tree(spans), []string{
		"(root) > POST /graphql",
		"POST /graphql > query Feed",
		"query Feed > Query.users",
		"query Feed > SELECT",
		"query Feed > mget",
		"query Feed > redis.pipeline eval",
		"query Feed > redis.pipeline set",
	})
	for name, want := range map[string]int64{"redis.pipeline set": 4, "redis.pipeline eval": 4} {
		if got, _ := attr(span(t, spans, name), "db.redis.num_cmd"); got.AsInt64() != want {
			t.Errorf("%s: %d commands, want %d", name, got.AsInt64(), want)
		}
	}
	// Statements without values, commands without arguments: profiles,
	// ids and lease tokens stay out of the traces.
	if stmt, _ := attr(span(t, spans, "SELECT"), "db.statement"); !strings.Contains(stmt.AsString(), "IN (?)") || strings.Contains(stmt.AsString(), fmt.Sprint(id)) {
		t.Errorf("SELECT statement %q, want placeholders and no ids", stmt.AsString())
	}
	for _, name := range []string{"mget", "redis.pipeline set", "redis.pipeline eval"} {
		if v, ok := attr(span(t, spans, name), "db.statement"); ok {
			t.Errorf("%s records its arguments: %q", name, v.AsString())
		}
	}
	if got, _ := attr(span(t, spans, "query Feed"), "graphql.operation.name"); got.AsString() != "Feed" {
		t.Errorf("graphql.operation.name = %q, want Feed", got.AsString())
	}
}

func (c *tracingCase) warmFeed(t *testing.T) {
	s, exp, feed := c.s, c.exp, c.feed
	spans := oneTrace(t, s, exp, feed)
	diffLines(t, tree(spans), []string{
		"(root) > POST /graphql",
		"POST /graphql > query Feed",
		"query Feed > Query.users",
		"query Feed > mget",
	})
}

func (c *tracingCase) twoRequests(t *testing.T) {
	s, exp, feed := c.s, c.exp, c.feed
	exp.Reset()
	serveGraphQL(t, s, feed)
	serveGraphQL(t, s, fmt.Sprintf(`{"query":"{ user(id: \"%d\") { id } }"}`, c.id))
	spans := exp.GetSpans()
	ids := traceIDs(spans)
	if len(ids) != 2 {
		t.Fatalf("%d traces %v, want 2", len(ids), ids)
	}
	want := map[string][]string{
		ids[0]: {"(root) > POST /graphql", "POST /graphql > query Feed", "query Feed > Query.users", "query Feed > mget"},
		ids[1]: {"(root) > POST /graphql", "POST /graphql > query", "query > Query.user", "query > mget"},
	}
	for _, id := range ids {
		var of tracetest.SpanStubs
		for _, sp := range spans {
			if sp.SpanContext.TraceID().String() == id {
				of = append(of, sp)
			}
		}
		diffLines(t, tree(of), want[id])
	}
}

func (c *tracingCase) traceparent(t *testing.T) {
	s, exp, feed := c.s, c.exp, c.feed
	exp.Reset()
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	serveGraphQL(t, s, feed, "traceparent", "00-"+traceID+"-"+parentID+"-01")
	spans := exp.GetSpans()
	if ids := traceIDs(spans); !slices.Equal(ids, []string{traceID}) {
		t.Errorf("traces %v, want [%s]", ids, traceID)
	}
	root := span(t, spans, "POST /graphql")
	if got := root.Parent.SpanID().String(); !root.Parent.IsRemote() || got != parentID {
		t.Errorf("HTTP span's parent %s (remote %v), want the caller's %s", got, root.Parent.IsRemote(), parentID)
	}
	diffLines(t, tree(spans), []string{
		"(remote) > POST /graphql",
		"POST /graphql > query Feed",
		"query Feed > Query.users",
		"query Feed > mget",
	})
}

func (c *tracingCase) updateMe(t *testing.T) {
	s, exp, id := c.s, c.exp, c.id
	s.ReplaceUsers(t, servertest.SeqUsers(id+4, 1)...)
	tok, err := MintToken(testSecret, id+4, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	spans := oneTrace(t, s, exp, fmt.Sprintf(`{"query":"mutation Rename { updateMe(input: {name: \"x%d\"}) { id name } }"}`, id+4),
		"Authorization", "Bearer "+tok)
	// A mutation plans nothing: the account is loaded by the
	// resolver's own batch, cold, on a context detached from the
	// request's cancellation but not from its span. Bun runs the
	// transaction's statements on BEGIN's context.
	diffLines(t, tree(spans), []string{
		"(root) > POST /graphql",
		"BEGIN > COMMIT",
		"BEGIN > SELECT",
		"BEGIN > UPDATE",
		"Mutation.updateMe > BEGIN",
		"Mutation.updateMe > SELECT",
		"Mutation.updateMe > mget",
		"Mutation.updateMe > redis.pipeline eval set",
		"Mutation.updateMe > redis.pipeline set",
		"Mutation.updateMe > redis.pipeline set del", // the invalidation: the fresh-window marker, then the DEL
		"POST /graphql > mutation Rename",
		"mutation Rename > Mutation.updateMe",
	})
}

func (c *tracingCase) probes(t *testing.T) {
	s, exp := c.s, c.exp
	exp.Reset()
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		w := httptest.NewRecorder()
		s.Handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, w.Code)
		}
	}
	if spans := exp.GetSpans(); len(spans) > 0 {
		t.Errorf("spans %v, want none", tree(spans))
	}
}
