package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/headline/headline"
	"github.com/headline/headline/dataloaders"
	"github.com/headline/headline/graph"
)

// fieldRecorder is a field interceptor that notes the goroutine every field
// ran on, by path ("users[3].name"), and can make one field panic or
// answer null.
type fieldRecorder struct {
	panicAt, nullAt string

	mu         sync.Mutex
	goroutines map[string]string
}

func (*fieldRecorder) ExtensionName() string                   { return "fieldRecorder" }
func (*fieldRecorder) Validate(graphql.ExecutableSchema) error { return nil }

func (r *fieldRecorder) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	path := graphql.GetFieldContext(ctx).Path().String()
	r.mu.Lock()
	r.goroutines[path] = goroutineID()
	r.mu.Unlock()
	switch path {
	case r.panicAt:
		panic("interceptor panics at " + path)
	case r.nullAt:
		return nil, nil
	}
	return next(ctx)
}

// goroutineID reads the running goroutine's id from its stack header
// ("goroutine 7 [running]:").
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := strings.Cut(strings.TrimPrefix(string(buf), "goroutine "), " ")
	return id
}

// serveWith answers query with a handler using rec, over fakeProfiles, as
// viewer 1.
func serveWith(t *testing.T, rec *fieldRecorder, query string) response {
	t.Helper()
	rec.goroutines = map[string]string{}
	w := serveOptions(graph.Options{Extensions: []graphql.HandlerExtension{rec}}, fakeProfiles{}, headline.Viewer{UserID: 1}, query, nil)
	return newResponse(t, w.Code, w.Body.Bytes())
}

func TestUsersMarshalsItsElementsInTheResolversGoroutine(t *testing.T) {
	rec := &fieldRecorder{}
	r := serveWith(t, rec, `{ users(ids: ["1", "2", "3", "4", "5", "6", "7", "8"]) { id name } }`)
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %s", r.raw)
	}
	resolver := rec.goroutines["users"]
	if resolver == "" || len(rec.goroutines) != 1+8*2 {
		t.Fatalf("fields seen: %v, want users and 8 × id, name", rec.goroutines)
	}
	for path, g := range rec.goroutines {
		if g != resolver {
			t.Errorf("%s ran on goroutine %s, users' resolver on %s: a User has no resolver fields, its list need not start goroutines", path, g, resolver)
		}
	}
}

func TestUsersElementFailuresStayOnTheirElement(t *testing.T) {
	cases := []struct {
		name    string
		rec     *fieldRecorder
		path    string
		message string
		code    string
	}{
		{"a panic in one element's field", &fieldRecorder{panicAt: "users[3].name"},
			"users.3.name", "internal server error", headline.ECodeInternal},
		{"a null in one element's non-null field", &fieldRecorder{nullAt: "users[2].name"},
			"users.2.name", "internal server error", headline.ECodeInternal},
	}
	for _, tc := range cases {
		t.Run(tc.name+" nulls that element only, with an error on its path", func(t *testing.T) {
			r := serveWith(t, tc.rec, `{ users(ids: ["1", "2", "3", "4", "5"]) { id name } }`)
			var want []string
			for i := range 5 {
				if strings.HasPrefix(tc.path, fmt.Sprintf("users.%d.", i)) {
					want = append(want, "null")
				} else {
					want = append(want, fmt.Sprintf(`{"id":"%d","name":"user%d"}`, i+1, i+1))
				}
			}
			if got, want := string(r.Data["users"]), "["+strings.Join(want, ",")+"]"; got != want {
				t.Errorf("users = %s, want %s", got, want)
			}
			msg, code, ok := r.errorAt(tc.path)
			if !ok || len(r.Errors) != 1 {
				t.Fatalf("want one error, at %s: %s", tc.path, r.raw)
			}
			if msg != tc.message || code != tc.code {
				t.Errorf("error = %q %q, want %q %q", msg, code, tc.message, tc.code)
			}
			requireNoLeak(t, r.raw)
		})
	}
}

// BenchmarkUsers50 is users(ids:) with 50 users and all their fields, in
// memory (fakeProfiles, no HTTP): what gqlgen costs to execute and write a
// feed page, apart from Redis and the network.
func BenchmarkUsers50(b *testing.B) {
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = fmt.Sprintf("%q", fmt.Sprint(20+i)) // 20..69: users, none of them special
	}
	body, _ := json.Marshal(map[string]any{"query": "{ users(ids: [" + strings.Join(ids, ", ") + "]) { id name photo intro certi } }"})
	h := graph.NewHandler(graph.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	serve := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		ctx := dataloaders.NewContext(req.Context(), dataloaders.New(fakeProfiles{}, dataloaders.Options{}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req.WithContext(headline.NewContextWithViewer(ctx, headline.Viewer{UserID: 1})))
		return w
	}
	if w := serve(); w.Code != http.StatusOK || strings.Contains(w.Body.String(), "errors") || !strings.Contains(w.Body.String(), `"name":"user69"`) {
		b.Fatalf("warm-up: %d %s", w.Code, w.Body)
	}
	b.ReportAllocs()
	for b.Loop() {
		serve()
	}
}
