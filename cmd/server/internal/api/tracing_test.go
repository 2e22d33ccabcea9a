package api

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// tracedServer is a test server whose spans are exported, synchronously as
// each ends, to exp.
func tracedServer(t *testing.T) (*testServer, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return newTestServerWith(t, []serverOption{withTracing(tp)}), exp
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

func TestTracing(t *testing.T) {
	s, exp := tracedServer(t)
	s.replaceUsers(t, seqUsers(31700, 3)...)
	// Three users and an id with none: the fill writes three profiles and a -1.
	feed := `{"query":"query Feed { users(ids: [\"31700\", \"31701\", \"31702\", \"31799\"]) { id name } }"}`

	t.Run("a cold users(ids:) is one trace: HTTP, the operation, its resolver and the planned batch's MGET, lease, SELECT and fill", func(t *testing.T) {
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
		if stmt, _ := attr(span(t, spans, "SELECT"), "db.statement"); !strings.Contains(stmt.AsString(), "IN (?)") || strings.Contains(stmt.AsString(), "31700") {
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
	})

	t.Run("a warm one is the MGET alone", func(t *testing.T) {
		spans := oneTrace(t, s, exp, feed)
		diffLines(t, tree(spans), []string{
			"(root) > POST /graphql",
			"POST /graphql > query Feed",
			"query Feed > Query.users",
			"query Feed > mget",
		})
	})

	t.Run("two requests are two traces", func(t *testing.T) {
		exp.Reset()
		serveGraphQL(t, s, feed)
		serveGraphQL(t, s, `{"query":"{ user(id: \"31700\") { id } }"}`)
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
	})

	t.Run("an incoming traceparent is continued", func(t *testing.T) {
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
	})

	t.Run("updateMe: the resolver parents the account lookup, its detached load, the transaction and the invalidation", func(t *testing.T) {
		s.replaceUsers(t, seqUsers(31710, 1)...)
		tok, err := mintToken(testSecret, 31710, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		spans := oneTrace(t, s, exp, `{"query":"mutation Rename { updateMe(input: {name: \"x31710\"}) { id name } }"}`,
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
	})

	t.Run("probes and their Redis and SQL calls are not traced", func(t *testing.T) {
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
	})
}

func TestTracingOff(t *testing.T) {
	cfg := testConfig(t)
	tp, err := startTracing(context.Background(), cfg, testLogger(t))
	if err != nil || tp != nil {
		t.Fatalf("startTracing with no endpoint = %v, %v; want no tracer provider", tp, err)
	}
	mux := http.NewServeMux()
	if h := (&server{}).traceHTTP(mux); h != http.Handler(mux) {
		t.Errorf("without a tracer the routes are wrapped in a %T, want the bare *http.ServeMux: no tracing middleware", h)
	}
}

func TestStartTracingRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"an endpoint without a scheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"a traces endpoint of another scheme", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://localhost/"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{"http/json, which Go's exporter lacks", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"a bad traces protocol", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "udp"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(nil, envOf(tc.env), io.Discard)
			if err != nil {
				// A protocol is refused before tracing starts: see
				// TestFixedValueSettingsRefuseOthers.
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("parseConfig = %v, want an error naming %s", err, tc.want)
				}
				return
			}
			tp, err := startTracing(context.Background(), cfg, testLogger(t))
			if tp != nil {
				_ = tp.Shutdown(context.Background())
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("startTracing = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// collector is a fake OTLP receiver: it keeps every span it is sent, with
// the service name of its resource, and the HTTP paths it was sent to.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []receivedSpan
	paths []string
}

type receivedSpan struct {
	service, name, traceID, spanID, parentID string
	redis                                    bool // a Redis command's
}

func (c *collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		var service string
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				r := receivedSpan{service: service, name: sp.Name, traceID: fmt.Sprintf("%x", sp.TraceId),
					spanID: fmt.Sprintf("%x", sp.SpanId), parentID: fmt.Sprintf("%x", sp.ParentSpanId)}
				for _, a := range sp.Attributes {
					r.redis = r.redis || (a.Key == "db.system" && a.GetValue().GetStringValue() == "redis")
				}
				c.spans = append(c.spans, r)
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	req := &coltracepb.ExportTraceServiceRequest{}
	if err == nil {
		err = proto.Unmarshal(body, req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.paths = append(c.paths, r.URL.Path)
	c.mu.Unlock()
	resp, _ := c.Export(r.Context(), req)
	out, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (c *collector) received() ([]receivedSpan, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.spans), slices.Clone(c.paths)
}

// startCollector serves c over OTLP/HTTP or OTLP/gRPC and returns its URL.
func startCollector(t *testing.T, c *collector, grpcProtocol bool) string {
	t.Helper()
	if !grpcProtocol {
		hs := httptest.NewServer(c)
		t.Cleanup(hs.Close)
		return hs.URL
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(gs, c)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return "http://" + ln.Addr().String()
}

func TestRunExportsTracesOnExit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		grpc     bool
		flags    func(url string) []string
		wantPath string // of the OTLP/HTTP requests
	}{
		{"http/protobuf to the base endpoint's /v1/traces", false, func(url string) []string {
			return []string{"-otel-exporter-otlp-endpoint", url}
		}, "/v1/traces"},
		{"http/protobuf to a traces endpoint as given", false, func(url string) []string {
			return []string{"-otel-exporter-otlp-endpoint", "http://127.0.0.1:1", "-otel-exporter-otlp-traces-endpoint", url + "/otlp/spans"}
		}, "/otlp/spans"},
		{"grpc", true, func(url string) []string {
			return []string{"-otel-exporter-otlp-endpoint", url, "-otel-exporter-otlp-protocol", "grpc"}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &collector{}
			url := startCollector(t, c, tc.grpc)
			addr, out, stop := startEmbedded(t, append(tc.flags(url), "-embedded-demo-users", "5", "-otel-service-name", "headline-test")...)
			const traceID = "0af7651916cd43dd8448eb211c80319c"
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(`{"query":"{ user(id: \"3\") { id } }"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("traceparent", "00-"+traceID+"-b7ad6b7169203331-01")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := `{"data":{"user":{"id":"3"}}}`; string(b) != want {
				t.Fatalf("got %s, want %s", b, want)
			}
			// The batch processor would send them in 5 s; run's exit must.
			if spans, _ := c.received(); len(spans) > 0 {
				t.Fatalf("spans arrived before the exit: %v", spans)
			}
			if err := stop(); err != nil {
				t.Fatalf("run: %v", err)
			}
			spans, paths := c.received()
			redisSpans := map[string]bool{}
			for _, sp := range spans {
				redisSpans[sp.spanID] = sp.redis
			}
			var names []string
			for _, sp := range spans {
				if redisSpans[sp.parentID] {
					continue // a connection's handshake, as in tree
				}
				names = append(names, sp.name)
				if sp.service != "headline-test" || sp.traceID != traceID {
					t.Errorf("span %q: service %q, trace %s; want headline-test, %s", sp.name, sp.service, sp.traceID, traceID)
				}
			}
			slices.Sort(names)
			want := []string{"Query.user", "POST /graphql", "SELECT", "mget", "query", "redis.pipeline eval", "redis.pipeline set"}
			slices.Sort(want)
			if !slices.Equal(names, want) {
				t.Errorf("spans received %v, want %v\nlog:\n%s", names, want, out)
			}
			for _, p := range paths {
				if p != tc.wantPath {
					t.Errorf("sent to %s, want %s", p, tc.wantPath)
				}
			}
		})
	}
}
