package graph

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// hintsSchema has a hint of every shape Apollo Server's cache control
// plugin reads: on fields and on types, maxAge, scope, inheritMaxAge, a
// root scalar, a nested composite field, an interface, and an _entities as
// federation writes it (no directive).
const hintsSchema = `
directive @cacheControl(maxAge: Int, scope: CacheControlScope, inheritMaxAge: Boolean) on FIELD_DEFINITION | OBJECT | INTERFACE | UNION
enum CacheControlScope { PUBLIC PRIVATE }

type Query {
  public: Profile @cacheControl(scope: PUBLIC)
  fixed: Profile @cacheControl(maxAge: 300)
  private: Profile @cacheControl(maxAge: 30, scope: PRIVATE)
  viewer: Profile @cacheControl(maxAge: 0, scope: PRIVATE)
  plain: Profile
  count: Int @cacheControl(maxAge: 20)
  bare: Int
  post: Post
  node: Node @cacheControl(maxAge: 100)
  _entities: [Entity]!
}
type Profile {
  name: String
  friends: [Profile]
  best: Profile @cacheControl(inheritMaxAge: true)
  secret: String @cacheControl(scope: PRIVATE)
  score: Int @cacheControl(maxAge: 10)
}
type Post @cacheControl(maxAge: 240) {
  title: String
  author: Profile @cacheControl(maxAge: 50)
}
interface Node { id: ID }
type A implements Node { id: ID @cacheControl(maxAge: 7) }
type B implements Node { id: ID }
union Entity = Profile | Post
`

// TestOperationPolicy checks each shape against what Apollo Server 4 (its
// cache control plugin with defaultMaxAge 0) computes for it, with 60s for
// fields hinted PUBLIC without a maxAge. "" is no cacheable policy.
func TestOperationPolicy(t *testing.T) {
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: hintsSchema})
	hints := newCacheHints(schema, 60*time.Second)
	for _, tc := range []struct {
		name, query string
		vars        map[string]any
		want        string
	}{
		{"public without maxAge: the setting", `{ public { name } }`, nil, "max-age=60, public"},
		{"an explicit maxAge wins over the setting", `{ fixed { name } }`, nil, "max-age=300, public"},
		{"the lowest maxAge of the fields", `{ public { name } fixed { name } }`, nil, "max-age=60, public"},
		{"private", `{ private { name } }`, nil, "max-age=30, private"},
		{"private once any field is", `{ public { name } private { name } }`, nil, "max-age=30, private"},
		{"private whatever follows", `{ private { name } public { name } }`, nil, "max-age=30, private"},
		{"maxAge 0: never cacheable", `{ viewer { name } }`, nil, ""},
		{"maxAge 0 with a public field", `{ public { name } viewer { name } }`, nil, ""},
		{"a root field without a hint is 0", `{ plain { name } }`, nil, ""},
		{"a root scalar with a hint", `{ count }`, nil, "max-age=20, public"},
		{"a root scalar without a hint is 0", `{ public { name } bare }`, nil, ""},
		{"__typename alone: no policy", `{ __typename }`, nil, ""},
		{"introspection alone: no policy", `{ __schema { types { name fields { name type { name } } } } }`, nil, ""},
		{"introspection beside a public field adds nothing", `{ public { name } __type(name: "Query") { name } }`, nil, "max-age=60, public"},
		{"a nested composite field without a hint is 0", `{ public { friends { name } } }`, nil, ""},
		{"inheritMaxAge on a nested composite field", `{ public { best { name } } }`, nil, "max-age=60, public"},
		{"a scalar hinted PRIVATE without maxAge", `{ public { secret } }`, nil, "max-age=60, private"},
		{"a scalar's maxAge", `{ public { score } }`, nil, "max-age=10, public"},
		{"a type's hint", `{ post { title } }`, nil, "max-age=240, public"},
		{"a field's hint below a type's", `{ post { author { name } } }`, nil, "max-age=50, public"},
		{"an interface field: the most restrictive of its objects'", `{ node { id } }`, nil, "max-age=7, public"},
		{"_entities, as federation writes it", `{ _entities { ... on Profile { name } } }`, nil, "max-age=60, public"},
		{"@skip(if: true) leaves a field out", `query($s: Boolean!) { public { name } viewer @skip(if: $s) { name } }`, map[string]any{"s": true}, "max-age=60, public"},
		{"@skip(if: false) keeps it", `query($s: Boolean!) { public { name } viewer @skip(if: $s) { name } }`, map[string]any{"s": false}, ""},
		{"@include(if: false) leaves it out", `{ public { name } viewer @include(if: false) { name } }`, nil, "max-age=60, public"},
		{"a root field through a fragment", `{ public { name } ...V } fragment V on Query { viewer { name } }`, nil, ""},
		{"a nested field through an inline fragment", `{ public { ... on Profile { friends { name } } } }`, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := policyHeader(t, schema, hints, tc.query, tc.vars); got != tc.want {
				t.Errorf("%s: %q, want %q", tc.query, got, tc.want)
			}
		})
	}
}

// policyHeader validates query and returns the Cache-Control of its
// policy, "" when it is not cacheable.
func policyHeader(t *testing.T, schema *ast.Schema, hints *cacheHints, query string, vars map[string]any) string {
	t.Helper()
	doc, errs := gqlparser.LoadQuery(schema, query)
	if errs != nil {
		t.Fatalf("%s: %v", query, errs)
	}
	p := hints.operationPolicy(doc.Operations[0], vars)
	if !p.cacheable() {
		return ""
	}
	return p.header()
}

// TestSchemaCacheHints checks headline's own schema: user and users public
// for CACHE_CONTROL_MAX_AGE, me and updateMe never cacheable, 0 turning
// caching off.
func TestSchemaCacheHints(t *testing.T) {
	schema := NewExecutableSchema(Config{}).Schema()
	for _, tc := range []struct {
		maxAge      time.Duration
		query, want string
	}{
		{time.Minute, `{ user(id: "1") { id name } }`, "max-age=60, public"},
		{time.Minute, `{ users(ids: ["1", "2"]) { id name photo intro certi } }`, "max-age=60, public"},
		{time.Minute, `{ a: user(id: "1") { name } b: users(ids: ["2"]) { name __typename } }`, "max-age=60, public"},
		{time.Minute, `{ me { id } }`, ""},
		{time.Minute, `{ user(id: "1") { id } me { id } }`, ""},
		{time.Minute, `mutation { updateMe(input: {intro: "x"}) { id } }`, ""},
		{90 * time.Second, `{ user(id: "1") { id } }`, "max-age=90, public"},
		{1500 * time.Millisecond, `{ user(id: "1") { id } }`, "max-age=1, public"},
		{0, `{ user(id: "1") { id } }`, ""},
	} {
		hints := newCacheHints(schema, tc.maxAge)
		if got := policyHeader(t, schema, hints, tc.query, nil); got != tc.want {
			t.Errorf("CACHE_CONTROL_MAX_AGE=%v %s: %q, want %q", tc.maxAge, tc.query, got, tc.want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		accept []string
		want   string
	}{
		{nil, mediaJSON},
		{[]string{"*/*"}, mediaJSON},
		{[]string{"application/*"}, mediaJSON},
		{[]string{"application/json"}, mediaJSON},
		{[]string{"application/graphql-response+json"}, mediaGraphQLResponse},
		{[]string{"Application/GraphQL-Response+JSON; charset=utf-8"}, mediaGraphQLResponse},
		// graphql-request: the first listed among equals.
		{[]string{"application/graphql-response+json, application/json"}, mediaGraphQLResponse},
		{[]string{"application/json, application/graphql-response+json"}, mediaJSON},
		// Apollo Client.
		{[]string{"application/graphql-response+json,application/json;q=0.9"}, mediaGraphQLResponse},
		{[]string{"application/json;q=0.9, application/graphql-response+json"}, mediaGraphQLResponse},
		{[]string{"text/html", "application/json;q=0.5"}, mediaJSON},
		{[]string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, mediaJSON},
		{[]string{"text/html"}, ""},
		{[]string{"application/json;q=0"}, ""},
		{[]string{"application/graphql-response+json;q=0, */*;q=0"}, ""},
		{[]string{"application/json;q=2"}, ""},
		{[]string{"application/json;q=0.1234"}, ""},
		{[]string{"application/json;q=0.001"}, mediaJSON},
		{[]string{"multipart/mixed"}, ""},
		{[]string{"application/json, multipart/mixed"}, mediaJSON}, // GraphiQL
	} {
		if got := negotiate(tc.accept); got != tc.want {
			t.Errorf("Accept %q: %q, want %q", tc.accept, got, tc.want)
		}
	}
}

func TestNoneMatch(t *testing.T) {
	etag := bodyETag([]byte(`{"data":{"user":null}}`))
	if etag != bodyETag([]byte(`{"data":{"user":null}}`)) || etag == bodyETag([]byte(`{"data":{"users":[]}}`)) {
		t.Fatalf("bodyETag is not a function of the body alone")
	}
	for _, tc := range []struct {
		lines []string
		want  bool
	}{
		{nil, false},
		{[]string{etag}, true},
		{[]string{"W/" + etag}, true},
		{[]string{`"other", ` + etag}, true},
		{[]string{`"other"`, etag}, true},
		{[]string{"*"}, true},
		{[]string{`"other"`}, false},
		{[]string{etag[1 : len(etag)-1]}, false},
	} {
		if got := noneMatch(tc.lines, etag); got != tc.want {
			t.Errorf("If-None-Match %q: %v, want %v", tc.lines, got, tc.want)
		}
	}
}

// TestWriteCacheablePrivate: no field of headline's schema is cacheable
// and PRIVATE, but one hinted so would be kept by the browser alone, and
// per token.
func TestWriteCacheablePrivate(t *testing.T) {
	for _, tc := range []struct {
		p        cachePolicy
		cc, vary string
	}{
		{cachePolicy{maxAge: 30, scope: scopePrivate}, "max-age=30, private", "Accept, Authorization"},
		{cachePolicy{maxAge: 30, scope: scopePublic}, "max-age=30, public", "Accept"},
		{cachePolicy{maxAge: 30}, "max-age=30, public", "Accept"},
	} {
		rec := httptest.NewRecorder()
		x := &exchange{w: rec, r: httptest.NewRequest(http.MethodGet, "/graphql?query={me{id}}", nil), media: mediaJSON}
		x.writeCacheable([]byte(`{"data":{"me":{"id":"1"}}}`), tc.p)
		if got, vary := rec.Header().Get("Cache-Control"), strings.Join(rec.Header().Values("Vary"), ", "); got != tc.cc || vary != tc.vary || rec.Code != http.StatusOK {
			t.Errorf("%+v: %d, Cache-Control %q, Vary %q; want 200, %q, %q", tc.p, rec.Code, got, vary, tc.cc, tc.vary)
		}
	}
}
