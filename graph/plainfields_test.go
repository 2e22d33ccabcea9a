package graph_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/headline/headline"
	"github.com/headline/headline/graph"
)

// pathRecorder is a field interceptor that notes the path of every field
// it sees; resolversOnly makes it say, as the tracer does, that it passes
// plain fields straight through.
type pathRecorder struct {
	resolversOnly bool

	mu    sync.Mutex
	paths []string
}

func (*pathRecorder) ExtensionName() string                   { return "pathRecorder" }
func (*pathRecorder) Validate(graphql.ExecutableSchema) error { return nil }
func (r *pathRecorder) InterceptsPlainFields() bool           { return !r.resolversOnly }

func (r *pathRecorder) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	r.mu.Lock()
	r.paths = append(r.paths, graphql.GetFieldContext(ctx).Path().String())
	r.mu.Unlock()
	return next(ctx)
}

// TestPlainFieldsAreWrittenDirectlyUnlessAnInterceptorWantsThem: the same
// bytes either way; an interceptor that wants every field sees User's
// plain fields, one that wants resolvers only sees none of them, since
// they no longer pass through the interceptors.
func TestPlainFieldsAreWrittenDirectlyUnlessAnInterceptorWantsThem(t *testing.T) {
	const query = `{ users(ids: ["1", "2", "3", "404"]) { __typename id name photo intro certi }
		u: user(id: "5") { name n2: name }
		__type(name: "User") { name fields { name isDeprecated } }
		_service { sdl } }`
	answer := func(rec *pathRecorder) string {
		w := serveOptions(graph.Options{Extensions: []graphql.HandlerExtension{rec}, Introspection: true}, fakeProfiles{}, headline.Viewer{UserID: 1}, query, nil)
		if w.Code != http.StatusOK || strings.Contains(w.Body.String(), `"errors"`) {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		return w.Body.String()
	}
	every, resolvers := &pathRecorder{}, &pathRecorder{resolversOnly: true}
	slow, direct := answer(every), answer(resolvers)
	if slow != direct {
		t.Errorf("written directly, the answer differs:\n%s\nthrough the interceptors:\n%s", direct, slow)
	}
	for _, want := range []string{"users[0].name", "users[2].certi", "u.n2", "__type.fields[0].name", "_service.sdl"} {
		if !slices.Contains(every.paths, want) {
			t.Errorf("the interceptor that wants every field did not see %s: %v", want, every.paths)
		}
	}
	slices.Sort(resolvers.paths)
	// __Type.name and __Field.isDeprecated are methods: not plain.
	want := []string{"__type", "__type.fields", "__type.fields[0].isDeprecated", "__type.fields[1].isDeprecated",
		"__type.fields[2].isDeprecated", "__type.fields[3].isDeprecated", "__type.fields[4].isDeprecated",
		"__type.name", "_service", "u", "users"}
	if !slices.Equal(resolvers.paths, want) {
		t.Errorf("the interceptor of resolvers saw %v, want %v: plain fields passed through it", resolvers.paths, want)
	}
}
