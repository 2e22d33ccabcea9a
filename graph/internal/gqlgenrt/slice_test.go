package gqlgenrt_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/headline/headline/graph/internal/gqlgenrt"
)

// listContext is the context a generated list marshaller runs in: a response
// (errors, recover) and the FieldContext of the list field "users".
func listContext(ctx context.Context) context.Context {
	ctx = graphql.WithResponseContext(ctx, graphql.DefaultErrorPresenter,
		func(_ context.Context, p any) error { return fmt.Errorf("recovered: %v", p) })
	return graphql.WithFieldContext(ctx, &graphql.FieldContext{
		Object: "Query",
		Field:  graphql.CollectedField{Field: &ast.Field{Alias: "users", Name: "users"}},
	})
}

// marshalFunc is the signature both implementations take.
type marshalFunc func(context.Context, int, int64, bool, func(context.Context, int) graphql.Marshaler) graphql.Array

// run marshals a list of n with mf and returns what a client would see: the
// list as JSON and the errors, "path: message", sorted (gqlgen's concurrent
// elements add them in any order).
func run(ctx context.Context, mf marshalFunc, n int, limit int64, elem func(context.Context, int) graphql.Marshaler) (string, []string) {
	ctx = listContext(ctx)
	var buf bytes.Buffer
	mf(ctx, n, limit, false, elem).MarshalGQL(&buf)
	var errs []string
	for _, e := range graphql.GetErrors(ctx) {
		errs = append(errs, e.Path.String()+": "+e.Message)
	}
	slices.Sort(errs)
	return buf.String(), errs
}

// element writes the path it was given, so the output shows each element saw
// its own FieldContext; it panics at panicAt and is null at nullAt.
func element(panicAt, nullAt int) func(context.Context, int) graphql.Marshaler {
	return func(ctx context.Context, i int) graphql.Marshaler {
		fc := graphql.GetFieldContext(ctx)
		fc.Result = i
		switch i {
		case panicAt:
			panic(fmt.Sprintf("element %d", i))
		case nullAt:
			return graphql.Null
		}
		return graphql.MarshalString(fmt.Sprintf("%s index=%d parent=%s", fc.Path(), *fc.Index, fc.Parent.Field.Alias))
	}
}

func TestMarshalSliceSequentiallyAnswersAsGqlgen(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		n       int
		limit   int64
		panicAt int
		nullAt  int
		want    string
	}{
		{name: "empty list", ctx: context.Background(), n: 0, panicAt: -1, nullAt: -1, want: "[]"},
		{name: "one element", ctx: context.Background(), n: 1, panicAt: -1, nullAt: -1,
			want: `["users[0] index=0 parent=users"]`},
		{name: "elements keep their order and paths", ctx: context.Background(), n: 4, panicAt: -1, nullAt: -1,
			want: `["users[0] index=0 parent=users","users[1] index=1 parent=users","users[2] index=2 parent=users","users[3] index=3 parent=users"]`},
		{name: "a null element stays null", ctx: context.Background(), n: 3, panicAt: -1, nullAt: 1,
			want: `["users[0] index=0 parent=users",null,"users[2] index=2 parent=users"]`},
		{name: "a panicking element is null with an error on its path", ctx: context.Background(), n: 4, panicAt: 3, nullAt: -1,
			want: `["users[0] index=0 parent=users","users[1] index=1 parent=users","users[2] index=2 parent=users",null]`},
		{name: "the only element panics", ctx: context.Background(), n: 1, panicAt: 0, nullAt: -1, want: `[null]`},
		{name: "worker limit, cancelled request", ctx: cancelled, n: 3, limit: 2, panicAt: -1, nullAt: -1, want: `[null,null,null]`},
		{name: "worker limit, cancelled request, one element", ctx: cancelled, n: 1, limit: 2, panicAt: -1, nullAt: -1,
			want: `["users[0] index=0 parent=users"]`},
		{name: "no worker limit, cancelled request", ctx: cancelled, n: 2, panicAt: -1, nullAt: -1,
			want: `["users[0] index=0 parent=users","users[1] index=1 parent=users"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			elem := element(tt.panicAt, tt.nullAt)
			got, gotErrs := run(tt.ctx, gqlgenrt.MarshalSliceSequentially, tt.n, tt.limit, elem)
			want, wantErrs := run(tt.ctx, graphql.MarshalSliceConcurrently, tt.n, tt.limit, elem)
			if want != tt.want {
				t.Fatalf("gqlgen's MarshalSliceConcurrently answers %s, the test expects %s: gqlgen changed, revisit gqlgenrt.MarshalSliceSequentially", want, tt.want)
			}
			if got != want {
				t.Errorf("list:\n got %s\nwant %s", got, want)
			}
			if !slices.Equal(gotErrs, wantErrs) {
				t.Errorf("errors:\n got %q\nwant %q", gotErrs, wantErrs)
			}
		})
	}
}

func TestMarshalSliceSequentiallyReportsPanicOnElementPath(t *testing.T) {
	_, errs := run(context.Background(), gqlgenrt.MarshalSliceSequentially, 4, 0, element(2, -1))
	if want := []string{"users[2]: recovered: element 2"}; !slices.Equal(errs, want) {
		t.Errorf("errors: got %q, want %q", errs, want)
	}
}

// goroutineID reads the running goroutine's id from its stack header
// ("goroutine 7 [running]:").
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := strings.Cut(strings.TrimPrefix(string(buf), "goroutine "), " ")
	return id
}

func TestMarshalSliceSequentiallyRunsInCallingGoroutine(t *testing.T) {
	caller := goroutineID()
	var order []int // unguarded: the race detector objects if elements overlap
	gqlgenrt.MarshalSliceSequentially(listContext(context.Background()), 50, 0, false, func(_ context.Context, i int) graphql.Marshaler {
		if g := goroutineID(); g != caller {
			t.Errorf("element %d marshalled on goroutine %s, the caller is %s", i, g, caller)
		}
		order = append(order, i)
		return graphql.Null
	})
	if len(order) != 50 || !slices.IsSorted(order) {
		t.Errorf("elements marshalled in the order %v, want 0..49", order)
	}
}

func TestMarshalSliceSequentiallyOmitPanicHandlerLetsPanicThrough(t *testing.T) {
	defer func() {
		if r := recover(); r != "element 1" {
			t.Errorf("recovered %v, want the element's panic", r)
		}
	}()
	gqlgenrt.MarshalSliceSequentially(listContext(context.Background()), 3, 0, true, element(1, -1))
	t.Error("MarshalSlice returned: the panic was swallowed")
}
