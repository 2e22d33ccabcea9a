package telemetry

// OpenTelemetry traces: one trace per request, rooted in the HTTP server span
// (which continues an incoming W3C traceparent), with the GraphQL operation,
// its resolvers, and the Redis and SQL calls they cause beneath it. Tracing
// is on only when an OTLP endpoint is configured; off, nothing here is
// installed: no tracer provider, no hooks, no middleware.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/extra/bunotel"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// TracingOptions say where spans go, under the standard variable names;
// tracing is off unless an endpoint is set. The exporter reads the other
// OTEL_* variables (headers, timeout, TLS, sampler) from the environment
// itself.
type TracingOptions struct {
	Endpoint       string // OTEL_EXPORTER_OTLP_ENDPOINT: collector base URL
	TracesEndpoint string // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: full URL for traces, over the base
	Protocol       string // OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf or grpc
	TracesProtocol string // OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: over Protocol
	ServiceName    string // OTEL_SERVICE_NAME: service.name of the traces
}

// StartTracing returns the tracer provider of the server's spans, exporting
// them over OTLP as cfg says, or nil when no OTLP endpoint is configured. The
// caller must shut it down: that flushes the spans still queued.
func StartTracing(ctx context.Context, cfg TracingOptions, log *slog.Logger) (*sdktrace.TracerProvider, error) {
	if cfg.Endpoint == "" && cfg.TracesEndpoint == "" {
		return nil, nil
	}
	exp, endpoint, protocol, err := newTraceExporter(ctx, cfg)
	if err != nil {
		return nil, err
	}
	res, err := resource.New(ctx,
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost(),
		// Last, so that OTEL_SERVICE_NAME as configured (flag included)
		// wins over a service.name in OTEL_RESOURCE_ATTRIBUTES.
		resource.WithAttributes(semconv.ServiceName(cfg.ServiceName)))
	if errors.Is(err, resource.ErrPartialResource) {
		log.Warn("tracing: some resource attributes could not be read", "err", err)
	} else if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	// Export failures reach the SDK's process-wide error handler only; as
	// with go-redis's logger, send them to the server's log.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing: opentelemetry", "err", err)
	}))
	log.Info("tracing on", "endpoint", endpoint, "protocol", protocol, "service", cfg.ServiceName)
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// newTraceExporter makes the OTLP exporter cfg asks for. The endpoint is
// passed to it explicitly, so that the flags work as the variables do; the
// exporter reads every other OTEL_EXPORTER_OTLP_* variable (headers,
// timeout, compression, certificates) from the environment itself, as the
// SDK reads OTEL_TRACES_SAMPLER and OTEL_BSP_*.
func newTraceExporter(ctx context.Context, cfg TracingOptions) (exp sdktrace.SpanExporter, endpoint, protocol string, err error) {
	protocol, protocolVar := cfg.Protocol, "OTEL_EXPORTER_OTLP_PROTOCOL"
	if cfg.TracesProtocol != "" {
		protocol, protocolVar = cfg.TracesProtocol, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	}
	raw, endpointVar := cfg.TracesEndpoint, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	base := raw == ""
	if base {
		raw, endpointVar = cfg.Endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Not echoed: a URL may carry credentials.
		return nil, "", "", fmt.Errorf("%s: want an http:// or https:// URL such as http://localhost:4318", endpointVar)
	}
	switch protocol {
	case "http/protobuf":
		if base {
			// The specification's signal path under a base URL.
			u = u.JoinPath("v1", "traces")
		}
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	case "grpc":
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(u.String()))
	default:
		return nil, "", "", fmt.Errorf("%s: want http/protobuf or grpc, got %q", protocolVar, protocol)
	}
	if err != nil {
		return nil, "", "", fmt.Errorf("tracing: OTLP %s exporter: %w", protocol, err)
	}
	return exp, u.Redacted(), protocol, nil
}

// ShutdownTracing flushes the queued spans and stops tp, waiting at most a
// few seconds for a collector that does not answer.
func ShutdownTracing(tp *sdktrace.TracerProvider, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil {
		log.Error("tracing: flushing spans on shutdown failed", "err", err)
	}
}

// TraceClients returns db with a span for every statement, and adds a span
// for every command and pipeline to rdb (a hook on the client itself).
// Statements are recorded with placeholders, not values; Redis commands
// without their arguments, which hold profiles and lease tokens.
func TraceClients(tp trace.TracerProvider, db *bun.DB, rdb redis.UniversalClient) (*bun.DB, error) {
	children := childSpans{tp: tp}
	db = db.WithQueryHook(bunotel.NewQueryHook(
		bunotel.WithTracerProvider(children),
		bunotel.WithMeterProvider(metricnoop.NewMeterProvider()),
	))
	err := redisotel.InstrumentTracing(rdb,
		redisotel.WithTracerProvider(children),
		redisotel.WithDBStatement(false),
		// It walks the stack on every command to name its caller.
		redisotel.WithCallerEnabled(false))
	if err != nil {
		return db, fmt.Errorf("tracing: redis: %w", err)
	}
	return db, nil
}

// traceHTTP wraps h in the root span of each request, named by its route
// ("POST /graphql"), or returns h when tp is nil. Probes and metric scrapes
// are not traced: they would be most of the traces and tell nothing.
func traceHTTP(tp trace.TracerProvider, h http.Handler) http.Handler {
	if tp == nil {
		return h
	}
	return otelhttp.NewHandler(h, "headline",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return false
			}
			return true
		}),
	)
}

// graphqlTracer is a gqlgen extension: a span for the operation and one for
// each resolver (the root fields). A User's fields are plain struct fields
// and get none: five spans per user would bury a feed's trace.
type graphqlTracer struct{ tracer trace.Tracer }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
	graphql.FieldInterceptor
} = graphqlTracer{}

func (graphqlTracer) ExtensionName() string                   { return "OpenTelemetry" }
func (graphqlTracer) Validate(graphql.ExecutableSchema) error { return nil }

// maxSpanOperationName bounds the client-chosen operation name put in span
// names; a longer one is left out.
const maxSpanOperationName = 64

// InterceptOperation starts the operation's span before the lookups are
// planned and ends it once the response is made, so the planned batch's
// Redis and SQL calls, which start before any resolver, are its children.
func (g graphqlTracer) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	n, op := operationName(ctx)
	if op == nil {
		return next(ctx)
	}
	typ := string(op.Operation)
	spanName := typ
	attrs := []attribute.KeyValue{semconv.GraphQLOperationTypeKey.String(typ)}
	if n != "" && len(n) <= maxSpanOperationName {
		spanName += " " + n
		attrs = append(attrs, semconv.GraphQLOperationName(n))
	}
	ctx, span := g.tracer.Start(ctx, spanName, trace.WithAttributes(attrs...))
	respond := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		resp := respond(ctx)
		if resp != nil && len(resp.Errors) > 0 {
			// The message as the client sees it, never an internal one.
			span.SetStatus(codes.Error, resp.Errors[0].Message)
		}
		span.End()
		return resp
	}
}

// InterceptsPlainFields is false: InterceptField spans resolvers only, and
// graph writes plain fields without passing them through it.
func (graphqlTracer) InterceptsPlainFields() bool { return false }

// InterceptField wraps each resolver in a span.
func (g graphqlTracer) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !fc.IsResolver {
		return next(ctx)
	}
	ctx, span := g.tracer.Start(ctx, fc.Object+"."+fc.Field.Name,
		trace.WithAttributes(attribute.String("graphql.field.path", fc.Path().String())))
	defer span.End()
	res, err := next(ctx)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return res, err
}

// childSpans is a tracer provider whose tracers start spans only under a span
// already in the context. Redis and SQL calls outside any traced request
// (/readyz's pings, retried invalidations) would otherwise each start a
// trace of their own.
type childSpans struct {
	embedded.TracerProvider
	tp trace.TracerProvider
}

func (c childSpans) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childTracer{t: c.tp.Tracer(name, opts...)}
}

type childTracer struct {
	embedded.Tracer
	t trace.Tracer
}

func (c childTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(ctx) // a non-recording span
	}
	return c.t.Start(ctx, name, opts...)
}
