// Package telemetry is how headline is observed: Prometheus metrics,
// OpenTelemetry traces, request ids and the log line of each request, and
// the build's version. It implements the store's observation seam
// (Telemetry.Observer: the metrics and the request lines' counters). The
// HTTP edge installs what a Telemetry holds; cmd/server builds it, and
// hooks the tracer into its MySQL and Redis clients where it opens them.
package telemetry

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/trace"

	"github.com/headline/headline/store"
)

// Telemetry is what observes the edge's requests. The zero value gives
// each request an id and nothing more.
type Telemetry struct {
	Metrics      *Metrics             // nil: no metrics (METRICS=false)
	Tracer       trace.TracerProvider // nil: no tracing
	RequestLines bool                 // a log line per request (LOG_REQUESTS)
	// LocalHits: a local tier is on, and the request lines count its hits
	// (local_hits) apart from Redis's (cache_hits).
	LocalHits bool
}

// Observer is what the store reports to: the metrics and the counters of
// the request lines, those that are on.
func (t Telemetry) Observer() store.Observer {
	var obs []store.Observer // not a nil *Metrics: store would call it
	if t.Metrics != nil {
		obs = append(obs, t.Metrics)
	}
	if t.RequestLines {
		obs = append(obs, requestCounters{})
	}
	return store.Observers(obs...)
}

// Extensions are the GraphQL handler's observers: tracing, metrics and the
// request line's operation name, each only when it is on.
func (t Telemetry) Extensions() []graphql.HandlerExtension {
	var exts []graphql.HandlerExtension
	if t.Tracer != nil {
		exts = append(exts, graphqlTracer{tracer: t.Tracer.Tracer("github.com/headline/headline/graph")})
	}
	if t.Metrics != nil {
		exts = append(exts, t.Metrics.graphqlExtension())
	}
	if t.RequestLines {
		exts = append(exts, operationLogger{})
	}
	return exts
}

// TraceRequests wraps h in each request's root span, when tracing is on.
func (t Telemetry) TraceRequests(h http.Handler) http.Handler { return traceHTTP(t.Tracer, h) }

// LogRequests gives each request an id, and a line in log once answered
// when RequestLines is on.
func (t Telemetry) LogRequests(log *slog.Logger, h http.Handler) http.Handler {
	return requestLog(log, t.RequestLines, t.LocalHits, h)
}

// operationName is the name of the GraphQL operation ctx runs, as the
// metrics, the request's line and its span name it: the operation's own
// name once the document is parsed, else the operationName the client sent.
// op is nil until the document is parsed (or when it failed to parse).
func operationName(ctx context.Context) (name string, op *ast.OperationDefinition) {
	if !graphql.HasOperationContext(ctx) {
		return "", nil
	}
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation != nil {
		return oc.Operation.Name, oc.Operation
	}
	return oc.OperationName, nil
}
