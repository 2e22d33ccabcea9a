package main

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

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/cmd/server/internal/telemetry"
)

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
			tp, err := telemetry.StartTracing(context.Background(), cfg.Tracing, servertest.Logger(t))
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
