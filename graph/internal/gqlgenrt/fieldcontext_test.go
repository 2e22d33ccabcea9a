package gqlgenrt_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/headline/headline/graph/internal/gqlgenrt"
)

func TestNewScalarFieldContextAnswersAsGqlgen(t *testing.T) {
	field := graphql.CollectedField{Field: &ast.Field{Alias: "name", Name: "name"}}
	cases := []struct {
		object, typeName     string
		isMethod, isResolver bool
	}{
		{"User", "String", false, false},
		{"User", "ID", false, false},
		{"__Type", "__TypeKind", true, false},
		{"Query", "Int", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.object+"."+tc.typeName, func(t *testing.T) {
			got, gotErr := gqlgenrt.NewScalarFieldContext(tc.object, field, tc.isMethod, tc.isResolver, tc.typeName)
			want, wantErr := graphql.NewScalarFieldContext(tc.object, field, tc.isMethod, tc.isResolver, tc.typeName)
			if gotErr != nil || wantErr != nil {
				t.Fatalf("errors: %v, gqlgen's %v", gotErr, wantErr)
			}
			_, gotChildErr := got.Child(context.Background(), field)
			_, wantChildErr := want.Child(context.Background(), field)
			if gotChildErr == nil || gotChildErr.Error() != wantChildErr.Error() {
				t.Errorf("Child: %v, gqlgen's %v", gotChildErr, wantChildErr)
			}
			// Every other field as gqlgen sets it: a field gqlgen starts
			// setting shows up here.
			got.Child, want.Child = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("FieldContext:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

var sink *graphql.FieldContext

func TestNewScalarFieldContextSharesChild(t *testing.T) {
	field := graphql.CollectedField{Field: &ast.Field{Name: "id"}}
	allocs := func(f func(string, graphql.CollectedField, bool, bool, string) (*graphql.FieldContext, error)) float64 {
		return testing.AllocsPerRun(100, func() { sink, _ = f("User", field, false, false, "ID") })
	}
	got, gqlgens := allocs(gqlgenrt.NewScalarFieldContext), allocs(graphql.NewScalarFieldContext)
	if got != 1 || gqlgens != 2 {
		t.Errorf("%v allocations per call, gqlgen's %v: want 1 (the FieldContext), gqlgen's 2 (and a closure)", got, gqlgens)
	}
}
