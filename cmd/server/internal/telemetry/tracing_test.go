package telemetry

import (
	"context"
	"net/http"
	"testing"

	"github.com/headline/headline/cmd/server/internal/servertest"
)

func TestTracingOff(t *testing.T) {
	tp, err := StartTracing(context.Background(), TracingOptions{Protocol: "http/protobuf", ServiceName: "headline"}, servertest.Logger(t))
	if err != nil || tp != nil {
		t.Fatalf("StartTracing with no endpoint = %v, %v; want no tracer provider", tp, err)
	}
	mux := http.NewServeMux()
	if h := (Telemetry{}).TraceRequests(mux); h != http.Handler(mux) {
		t.Errorf("without a tracer the routes are wrapped in a %T, want the bare *http.ServeMux: no tracing middleware", h)
	}
}
