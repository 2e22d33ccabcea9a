package graph

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
)

// Options configures the GraphQL handler; zero fields take their defaults.
type Options struct {
	// MaxIDs caps the ids of one users(ids:) field, and the representations
	// of one _entities field. Default: 100.
	MaxIDs int
	// ComplexityLimit refuses, before any Redis or SQL work, a query whose
	// complexity exceeds it. Each field counts 1, and users(ids:) counts its
	// selection once per id (_entities once per representation), so a feed
	// of 100 authors with all five fields is about 600. Default: 1000.
	ComplexityLimit int
	// MaxDepth refuses, before any Redis or SQL work, a query whose fields
	// nest deeper than it (a root field is at depth 1; introspection fields
	// count). Default: 15, the depth of the full introspection query that
	// gqlgen and graphql-js 17 write (nine levels of ofType); graphql-js
	// 16's is 14. The schema's own fields nest at most 2 deep.
	MaxDepth int
	// MaxAliases refuses, before any Redis or SQL work, a query with more
	// aliased fields than it, counted through fragments. Default: 100.
	MaxAliases int
	// MaxFields refuses, before any Redis or SQL work and before the
	// complexity limit is computed, a query that selects more fields than
	// it, counted through fragments (a fragment spread twice counts twice).
	// It stops fragment fan-out (fragments that each spread the next twice),
	// whose complexity gqlgen computes in time exponential in the levels.
	// Default: 1000, as ComplexityLimit: complexity counts every field at
	// least once except under __schema (and under users(ids: [])), so few
	// queries that pass the default ComplexityLimit select more. The full
	// introspection query selects 226 fields (227 with isOneOf).
	MaxFields int
	// MaxTokens refuses a query document of more lexical tokens than it,
	// while parsing, before validation. gqlparser's validation is quadratic
	// in fields that share a response name (OverlappingFieldsCanBeMerged),
	// so a 10 KB query repeating one field 2000 times costs it ~0.7s; this
	// bounds that cost. Default: 2000 (100 aliased user fields with all
	// five subfields are about 1,400 tokens, the introspection query ~350).
	MaxTokens int
	// QueryCacheSize is how many parsed and validated documents are kept.
	// Default: 1000.
	QueryCacheSize int
	// QueryCacheBytes bounds what the kept documents cost in heap: their
	// query text and AST, as documentCost charges them. A document over
	// 1/64 of it is not kept. Default: 32 MiB (so 512 KiB per document).
	QueryCacheBytes int64
	// Introspection serves __schema and __type (the Playground needs them).
	Introspection bool
	// Log receives internal errors and panics. Default: slog.Default().
	Log *slog.Logger
	// Profiles applies updateMe's edits; without it updateMe fails.
	Profiles ProfileUpdater
	// APQ keeps automatic persisted queries (Apollo's). nil: off, and a
	// request with only a hash is answered PersistedQueryNotSupported, or,
	// with PersistedDocuments, from them (PersistedQueryNotFound for
	// another hash: an Apollo client then sends the query, which runs).
	APQ PersistedQueryStore
	// PersistedDocuments are the operations of an Apollo persisted query
	// manifest (PERSISTED_DOCUMENTS): a client runs one by sending its id
	// as an automatic persisted query's hash, with no registration, whether
	// APQ is on or not; nil: none.
	PersistedDocuments *PersistedDocuments
	// PersistedDocumentsOnly runs nothing but the PersistedDocuments
	// (PERSISTED_DOCUMENTS_ONLY), refusing any other query, introspection
	// included, with Apollo Router's QUERY_NOT_IN_SAFELIST; APQ is off.
	// Check refuses it without PersistedDocuments.
	PersistedDocumentsOnly bool
	// APQMaxBytes is the longest query APQ stores; a longer one runs but is
	// not kept, so its client sends it in full each time. It bounds what
	// registrations can make Redis and each process's LRU hold. Default:
	// 32 KiB.
	APQMaxBytes int

	// CacheControlMaxAge is the maxAge, in whole seconds, of the fields the
	// schema hints @cacheControl(scope: PUBLIC) without a maxAge (user,
	// users, _entities): how long a cache may keep an answer by GET that
	// touched only such fields. Unlike the other fields, zero is not
	// DefaultOptions': it makes those answers uncacheable (no-store).
	CacheControlMaxAge time.Duration

	// Extensions are used before every other extension, so they wrap the
	// whole operation, the lookups planned before any resolver runs
	// included (a tracing span must, to parent the planned batch's calls).
	Extensions []graphql.HandlerExtension
}

// DefaultOptions are the defaults of Options' limits and caches: what a
// zero field means, and the settings' defaults.
var DefaultOptions = Options{
	MaxIDs:          100,
	ComplexityLimit: 1000,
	MaxDepth:        15,
	MaxAliases:      100,
	MaxFields:       1000,
	MaxTokens:       2000,
	QueryCacheSize:  1000,
	QueryCacheBytes: 32 << 20,
	APQMaxBytes:     32 << 10,
	// How long a CDN or a browser may keep a public profile, so how long
	// a reader may see one as it was before its user's updateMe. Not
	// what zero means: zero is no caching (CacheControlMaxAge).
	CacheControlMaxAge: 60 * time.Second,
}

func (o Options) withDefaults() Options {
	d := DefaultOptions
	for _, f := range []struct{ v, def *int }{
		{&o.MaxIDs, &d.MaxIDs}, {&o.ComplexityLimit, &d.ComplexityLimit}, {&o.MaxDepth, &d.MaxDepth},
		{&o.MaxAliases, &d.MaxAliases}, {&o.MaxFields, &d.MaxFields}, {&o.MaxTokens, &d.MaxTokens},
		{&o.QueryCacheSize, &d.QueryCacheSize}, {&o.APQMaxBytes, &d.APQMaxBytes},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	if o.QueryCacheBytes <= 0 {
		o.QueryCacheBytes = d.QueryCacheBytes
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// NewHandler returns the GraphQL endpoint: POST and GET, a cache of parsed
// documents, the limits, automatic persisted queries, and errors translated
// by presentError.
// Requests must carry the loaders of dataloaders.Middleware and the viewer
// set by the authentication middleware.
func NewHandler(opts Options) http.Handler {
	opts = opts.withDefaults()
	cfg := Config{Resolvers: &Resolver{MaxIDs: opts.MaxIDs, Log: opts.Log, Profiles: opts.Profiles,
		directPlainFields: !slices.ContainsFunc(opts.Extensions, interceptsPlainFields)}}
	cfg.Complexity.Query.Users = func(childComplexity int, ids []string) int {
		return 1 + len(ids)*childComplexity
	}
	// As users(ids:): an Apollo Gateway sends one representation per
	// reference, duplicates included.
	cfg.Complexity.Query.__resolve_entities = func(childComplexity int, reps []map[string]any) int {
		return 1 + len(reps)*childComplexity
	}
	es := NewExecutableSchema(cfg)
	srv := handler.New(es)
	// First, so that it has the last word on every answer; it only
	// intercepts responses, so the Extensions still wrap the operation.
	srv.Use(errorCap{})
	for _, ext := range opts.Extensions {
		srv.Use(ext)
	}
	// As the GraphQL-over-HTTP spec has them; answers by GET carry the
	// Cache-Control of the schema's @cacheControl hints (transport.go).
	srv.AddTransport(getTransport{hints: newCacheHints(es.Schema(), opts.CacheControlMaxAge)})
	srv.AddTransport(postTransport{})
	srv.SetQueryCache(newDocCache(opts.QueryCacheSize, opts.QueryCacheBytes))
	srv.SetParserTokenLimit(opts.MaxTokens)
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		srv.Use(introspectionOff{})
	}
	srv.Use(Limits{MaxDepth: opts.MaxDepth, MaxAliases: opts.MaxAliases, MaxFields: opts.MaxFields})
	srv.Use(extension.FixedComplexityLimit(opts.ComplexityLimit))
	srv.Use(opts.persistedQueries())
	srv.AroundOperations(planLookups(opts.MaxIDs))
	srv.SetErrorPresenter(presentError(opts.Log))
	srv.SetRecoverFunc(recoverPanic(opts.Log))
	return srv
}

// interceptsPlainFields reports whether ext is a field interceptor that
// may want plain fields (User.name, …): one that does not say it passes
// them straight through, with InterceptsPlainFields() false. headline's
// own extensions intercept no field, or only resolvers.
func interceptsPlainFields(ext graphql.HandlerExtension) bool {
	if _, ok := ext.(graphql.FieldInterceptor); !ok {
		return false
	}
	p, ok := ext.(interface{ InterceptsPlainFields() bool })
	return !ok || p.InterceptsPlainFields()
}

// persistedQueries is the extension that reads operations by their hash:
// the persisted documents, then APQ, or the documents alone as a safelist.
// Registered after every limit: a persisted query is stored only when it
// passed them all, and one read by its hash is held to them like any
// other.
func (o Options) persistedQueries() graphql.HandlerExtension {
	switch {
	case o.PersistedDocumentsOnly:
		return newPersistedQueries(persistedQueries{store: documentStore{docs: o.PersistedDocuments}, safelist: o.PersistedDocuments, only: true})
	case o.APQ != nil || o.PersistedDocuments != nil:
		return newPersistedQueries(persistedQueries{store: documentStore{docs: o.PersistedDocuments, next: o.APQ}, maxBytes: o.APQMaxBytes})
	}
	return persistedQueriesOff{}
}

// Check refuses options a server must not start with:
// PersistedDocumentsOnly without PersistedDocuments would refuse every
// operation.
func (o Options) Check() error {
	if o.PersistedDocumentsOnly && o.PersistedDocuments == nil {
		return errors.New("PERSISTED_DOCUMENTS_ONLY is true but PERSISTED_DOCUMENTS names no manifest: every operation would be refused")
	}
	return nil
}
