package telemetry

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/headline/headline/store"
)

// maxRequestIDLen bounds an incoming X-Request-ID: longer ones are replaced,
// so a client cannot make every log line of its request arbitrarily long.
const maxRequestIDLen = 128

// saneRequestID reports whether an incoming X-Request-ID may be kept: 1 to
// maxRequestIDLen visible ASCII characters, so that it is one token in a
// log line and safe to echo in a header.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

type requestIDKey struct{}

// requestIDFrom returns the id of the request ctx belongs to, "" outside one.
func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestIDHandler adds the request id to every record logged with a
// request's context, so that the lines of one request, in any package, can
// be found by it.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := requestIDFrom(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// NewLogger is the server's log, at level (debug, info, warn or error;
// info for any other) in format (json, or text for any other), whose
// records carry the request id of their context.
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return WithRequestIDs(slog.New(slog.NewJSONHandler(w, opts)))
	}
	return WithRequestIDs(slog.New(slog.NewTextHandler(w, opts)))
}

// WithRequestIDs makes log's records carry the request id of their context.
func WithRequestIDs(log *slog.Logger) *slog.Logger {
	if _, ok := log.Handler().(requestIDHandler); ok {
		return log
	}
	return slog.New(requestIDHandler{log.Handler()})
}

// requestLog gives every request an id — the client's X-Request-ID when it
// is sane, else a new one — echoes it in the response and puts it in the
// context, where the logger finds it. With logLines it also logs one line
// per request once it is answered: what was asked, how it went, and what the
// cache and the database did for it; with localHits, the ids the local tier
// answered apart from those Redis did.
func requestLog(log *slog.Logger, logLines, localHits bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !saneRequestID(id) {
			id = rand.Text()
		}
		w.Header().Set("X-Request-ID", id)
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		if !logLines || !log.Enabled(ctx, slog.LevelInfo) {
			// No line would be written (LOG_LEVEL above info): skip its
			// counting as well.
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		stats := &requestStats{}
		ctx = context.WithValue(ctx, requestStatsKey{}, stats)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))

		stats.mu.Lock()
		op := stats.operation
		stats.mu.Unlock()
		if sw.status == 0 {
			sw.status = http.StatusOK // nothing written: net/http answers 200
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("operation", op),
			slog.Int64("cache_hits", stats.cacheHits.Load()),
			slog.Int64("cache_misses", stats.cacheMisses.Load()),
			slog.Int64("joined", stats.joined.Load()),
			slog.Int64("sql_rows", stats.sqlRows.Load()),
		}
		if localHits {
			attrs = append(attrs, slog.Int64("local_hits", stats.localHits.Load()))
		}
		log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
	})
}

// requestStats is what one request's line says beyond what HTTP shows: the
// operation's name, which the GraphQL handler tells it, and what the store
// did for it. The loaders are per request, so every batch runs with a
// context of the request that made it; the batches of one request may run
// at once, hence atomics.
type requestStats struct {
	mu        sync.Mutex
	operation string

	// localHits counts ids the local tier answered alone (a profile or
	// "-1", and the status when asked for), without a Redis round trip.
	localHits atomic.Int64
	// cacheHits counts the other ids the cache answered: a profile or "-1"
	// read from Redis.
	cacheHits atomic.Int64
	// cacheMisses counts ids the cache did not answer (absent, of another
	// shape, the status entry missing when it was needed, or Redis down),
	// whoever then loaded them.
	cacheMisses atomic.Int64
	// joined counts the misses another request's load answered (one under
	// way, or finished moments ago): this request ran no SELECT for them.
	joined atomic.Int64
	// sqlRows counts the rows this request's SELECTs read. A row is counted
	// once, for the request that read it, not for those that joined its
	// load, so that the figures of all request lines add up to what the
	// database did.
	sqlRows atomic.Int64
}

type requestStatsKey struct{}

// requestCounters is the store.Observer that counts into the requestStats
// of the request whose context a call carries; calls outside a logged
// request count nothing.
type requestCounters struct{ store.NopObserver }

func statsFrom(ctx context.Context) *requestStats {
	s, _ := ctx.Value(requestStatsKey{}).(*requestStats)
	return s
}

func (requestCounters) CacheRead(ctx context.Context, r store.CacheRead) {
	if s := statsFrom(ctx); s != nil {
		s.localHits.Add(int64(r.Local))
		s.cacheHits.Add(int64(r.Answered - r.Local))
		s.cacheMisses.Add(int64(r.Unanswered))
	}
}

func (requestCounters) Joined(ctx context.Context, ids int) {
	if s := statsFrom(ctx); s != nil {
		s.joined.Add(int64(ids))
	}
}

func (requestCounters) SQL(ctx context.Context, _ string, _ time.Duration, rows int) {
	if s := statsFrom(ctx); s != nil {
		s.sqlRows.Add(int64(rows))
	}
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// maxLoggedOperation bounds the operation name in a request's line: a
// refused document's name is whatever the client sent.
const maxLoggedOperation = 64

// operationLogger is the GraphQL extension that tells the request's line the
// operation's name ("" when it has none).
type operationLogger struct{}

var _ graphql.ResponseInterceptor = operationLogger{}

func (operationLogger) ExtensionName() string                   { return "RequestLog" }
func (operationLogger) Validate(graphql.ExecutableSchema) error { return nil }

func (operationLogger) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if s := statsFrom(ctx); s != nil {
		name, _ := operationName(ctx)
		if len(name) > maxLoggedOperation {
			name = strings.ToValidUTF8(name[:maxLoggedOperation], "")
		}
		s.mu.Lock()
		s.operation = name
		s.mu.Unlock()
	}
	return next(ctx)
}
