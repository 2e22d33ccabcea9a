package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/headline/headline"
)

// PersistedQueryStore keeps the text of persisted queries by their SHA-256
// in lower-case hex. It must not fail: a store that cannot answer says
// !ok, and one that cannot keep a query drops it. Put returns an error only
// when it refuses to keep a query (a *headline.Error saying why, such as a
// registration over its budget): the query still runs, and the response
// says it was not stored.
type PersistedQueryStore interface {
	Get(ctx context.Context, hash string) (query string, ok bool)
	Put(ctx context.Context, hash, query string) error
}

// persistedQueries is Apollo's automatic persisted queries, done by gqlgen's
// extension.AutomaticPersistedQuery, with three changes:
//
//   - a query is stored only once it has parsed, validated and passed every
//     limit (like Apollo Server), not when it arrives: gqlgen's Add comes
//     before parsing, so any string up to the body limit would be kept;
//   - gqlgen's own refusals of the extension (hash not matching the query,
//     version other than 1, malformed data) carry no extensions.code; they
//     get BAD_USER_INPUT;
//   - PersistedQueryNotFound is marked uncacheable, as Apollo Server does, so
//     that a CDN in front of GET does not keep answering "not found" for a
//     hash that has been registered since.
//
// Register it after the limits and the complexity limit: MutateOperationContext,
// which stores the query, must run only when they all passed.
type persistedQueries struct {
	store    PersistedQueryStore
	maxBytes int // longer queries are not stored
	// only runs nothing but the operations of safelist (none when it is
	// nil), as Apollo Router's safelisting does (persisted_queries.safelist
	// without require_id): an id it lacks is PERSISTED_QUERY_NOT_IN_LIST
	// (404), a query sent in full that is not byte for byte one of its
	// bodies QUERY_NOT_IN_SAFELIST (403), introspection included. The store
	// must then be the safelist's alone, which registers nothing.
	only     bool
	safelist *PersistedDocuments
	// apq is gqlgen's extension over store, which only looks queries up
	// (lookupOnly): made once, by newPersistedQueries.
	apq extension.AutomaticPersistedQuery
}

// newPersistedQueries finishes p: gqlgen's extension over its store.
func newPersistedQueries(p persistedQueries) persistedQueries {
	p.apq = extension.AutomaticPersistedQuery{Cache: lookupOnly{p.store}}
	return p
}

var (
	_ graphql.HandlerExtension          = persistedQueries{}
	_ graphql.OperationParameterMutator = persistedQueries{}
	_ graphql.OperationContextMutator   = persistedQueries{}
	_ graphql.ResponseInterceptor       = persistedQueries{}
)

// registrationRefused is the operation's stats entry holding the store's
// refusal of its registration, for InterceptResponse.
const registrationRefused = "PersistedQueryRegistrationRefused"

func (persistedQueries) ExtensionName() string                   { return "PersistedQueries" }
func (persistedQueries) Validate(graphql.ExecutableSchema) error { return nil }

func (p persistedQueries) MutateOperationParameters(ctx context.Context, raw *graphql.RawParams) *gqlerror.Error {
	sent := raw.Query != ""
	if err := p.apq.MutateOperationParameters(ctx, raw); err != nil {
		code, _ := err.Extensions["code"].(string)
		switch {
		case p.only && code == "PERSISTED_QUERY_NOT_FOUND":
			id, _ := raw.Extensions["persistedQuery"].(map[string]any)["sha256Hash"].(string)
			return refuse(ctx, http.StatusNotFound, headline.ECodeNotInList,
				fmt.Sprintf("Persisted query '%s' not found in the persisted query list", id))
		case code == "":
			errcode.Set(err, headline.ECodeBadInput)
		default:
			uncacheable(ctx)
		}
		return err
	}
	if p.only && sent && !p.safelist.has(raw.Query) {
		return refuse(ctx, http.StatusForbidden, headline.ECodeNotInSafelist, "The operation body was not found in the persisted query safelist")
	}
	return nil
}

// refuse is a refusal answered with status, uncacheable, as Apollo Router
// answers its safelisting's.
func refuse(ctx context.Context, status int, code, msg string) *gqlerror.Error {
	uncacheable(ctx)
	setStatus(ctx, status)
	err := gqlerror.Errorf("%s", msg)
	errcode.Set(err, code)
	return err
}

// MutateOperationContext stores a query that came in full with its hash;
// gqlgen checked the hash, and the extensions registered before this one
// passed it.
func (p persistedQueries) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if s := extension.GetApqStats(ctx); s != nil && s.SentQuery && len(oc.RawQuery) <= p.maxBytes {
		if err := p.store.Put(ctx, s.Hash, oc.RawQuery); err != nil {
			oc.Stats.SetExtension(registrationRefused, err)
		}
	}
	return nil
}

// InterceptResponse tells a client whose registration was refused, in the
// response's extensions, that its query ran but was not stored:
//
//	"extensions": {"persistedQuery": {"registered": false, "code": "PERSISTED_QUERY_REGISTRATION_LIMITED", "message": "…"}}
//
// Not as an error: the data is whole, and an Apollo client treats any
// error as a failed operation. It sends the hash again next time, is told
// PersistedQueryNotFound, and sends the query in full, which runs.
func (persistedQueries) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || !graphql.HasOperationContext(ctx) {
		return resp
	}
	err, _ := graphql.GetOperationContext(ctx).Stats.GetExtension(registrationRefused).(error)
	if err == nil {
		return resp
	}
	e, ok := errors.AsType[*headline.Error](err)
	if !ok {
		return resp
	}
	if resp.Extensions == nil {
		resp.Extensions = map[string]any{}
	}
	resp.Extensions["persistedQuery"] = map[string]any{"registered": false, "code": e.Code, "message": e.Message}
	return resp
}

// lookupOnly is the store as gqlgen's extension sees it: its Add, called
// before the query is parsed, does nothing (persistedQueries stores later).
type lookupOnly struct{ store PersistedQueryStore }

func (l lookupOnly) Get(ctx context.Context, hash string) (string, bool) {
	return l.store.Get(ctx, hash)
}

func (lookupOnly) Add(context.Context, string, string) {}

// persistedQueriesOff answers a request that sends only a hash as Apollo
// Server does with persisted queries off, PersistedQueryNotSupported, on
// which Apollo clients stop sending hashes and send the query. A request
// with the query runs as if it had no hash.
type persistedQueriesOff struct{}

var (
	_ graphql.HandlerExtension          = persistedQueriesOff{}
	_ graphql.OperationParameterMutator = persistedQueriesOff{}
)

func (persistedQueriesOff) ExtensionName() string                   { return "PersistedQueriesOff" }
func (persistedQueriesOff) Validate(graphql.ExecutableSchema) error { return nil }

func (persistedQueriesOff) MutateOperationParameters(ctx context.Context, raw *graphql.RawParams) *gqlerror.Error {
	if raw.Extensions["persistedQuery"] == nil || raw.Query != "" {
		return nil
	}
	err := gqlerror.Errorf("PersistedQueryNotSupported")
	errcode.Set(err, "PERSISTED_QUERY_NOT_SUPPORTED")
	uncacheable(ctx)
	return err
}

// uncacheable marks the answer of a GET as one no cache may keep, with
// Apollo Server's header for the persisted-query refusals (an answer by
// POST is never kept: no-store).
func uncacheable(ctx context.Context) {
	if x := exchangeFrom(ctx); x != nil && x.get {
		x.w.Header().Set("Cache-Control", "private, no-cache, must-revalidate")
	}
}

// setStatus makes status the answer's, in place of the one the transport
// would choose for a refusal (exchange.write).
func setStatus(ctx context.Context, status int) {
	if x := exchangeFrom(ctx); x != nil {
		x.status = status
	}
}
