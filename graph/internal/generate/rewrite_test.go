package main

import (
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/headline/headline/graph/internal/gqlgenrt"
)

// generated is gqlgen v0.17.98's output for two lists, cut down.
const generated = `package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/headline/headline"
	"github.com/vektah/gqlparser/v2/ast"
)

func (ec *executionContext) marshalNUser2ᚕᚖUser(ctx context.Context, sel ast.SelectionSet, v []*headline.User) graphql.Marshaler {
	ret := graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, func(ctx context.Context, i int) graphql.Marshaler {
		fc := graphql.GetFieldContext(ctx)
		fc.Result = &v[i]
		return ec.marshalOUser2ᚖUser(ctx, sel, v[i])
	})

	return ret
}

func (ec *executionContext) marshalNPost2ᚕᚖPost(ctx context.Context, sel ast.SelectionSet, v []*Post) graphql.Marshaler {
	ret := graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, func(ctx context.Context, i int) graphql.Marshaler {
		fc := graphql.GetFieldContext(ctx)
		fc.Result = &v[i]
		return ec.marshalOPost2ᚖPost(ctx, sel, v[i])
	})

	return ret
}
`

// userPlan is the plan for generated: User's list, not Post's.
func userPlan() plan {
	return plan{lists: map[string]string{"marshalNUser2ᚕᚖUser": "User"}}
}

func TestRewriteChangesOnlyWhatThePlanSays(t *testing.T) {
	got, err := rewrite([]byte(generated), userPlan())
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer(
		"\t\"github.com/headline/headline\"\n",
		"\t\"github.com/headline/headline\"\n\t\""+runtimePkg+"\"\n",
		"ret := graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, func(ctx context.Context, i int) graphql.Marshaler {\n\t\tfc := graphql.GetFieldContext(ctx)\n\t\tfc.Result = &v[i]\n\t\treturn ec.marshalOUser",
		"ret := gqlgenrt.MarshalSliceSequentially(ctx, len(v), 0, false, func(ctx context.Context, i int) graphql.Marshaler {\n\t\tfc := graphql.GetFieldContext(ctx)\n\t\tfc.Result = &v[i]\n\t\treturn ec.marshalOUser",
	).Replace(generated)
	if string(got) != want {
		t.Errorf("rewrite gave:\n%s\nwant:\n%s", got, want)
	}
}

func TestRewriteRefusesOutputItDoesNotKnow(t *testing.T) {
	cases := []struct {
		name string
		src  string
		plan func(p *plan)
		want string
	}{
		{"a list marshaller gqlgen did not write", generated,
			func(p *plan) { p.lists["marshalNTeam2ᚕᚖTeam"] = "Team" }, "gqlgen wrote no marshalNTeam2ᚕᚖTeam"},
		{"a list marshaller without MarshalSliceConcurrently",
			strings.Replace(generated, "graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, func(ctx context.Context, i int) graphql.Marshaler {\n\t\tfc := graphql.GetFieldContext(ctx)\n\t\tfc.Result = &v[i]\n\t\treturn ec.marshalOUser",
				"graphql.MarshalSliceInParallel(ctx, len(v), 0, false, func(ctx context.Context, i int) graphql.Marshaler {\n\t\tfc := graphql.GetFieldContext(ctx)\n\t\tfc.Result = &v[i]\n\t\treturn ec.marshalOUser", 1),
			nil, "marshalNUser2ᚕᚖUser (a list of User) has 0 calls of graphql.MarshalSliceConcurrently"},
		{"already rewritten",
			strings.Replace(generated, "\t\"github.com/headline/headline\"\n", "\t\"github.com/headline/headline\"\n\t\""+runtimePkg+"\"\n", 1),
			nil, "already imports"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := userPlan()
			if tc.plan != nil {
				tc.plan(&p)
			}
			_, err := rewrite([]byte(tc.src), p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestRuntimePkgIsGqlgenrt(t *testing.T) {
	name := runtime.FuncForPC(reflect.ValueOf(gqlgenrt.MarshalSliceSequentially).Pointer()).Name()
	if want := runtimePkg + ".MarshalSliceSequentially"; name != want {
		t.Errorf("gqlgenrt.MarshalSliceSequentially is %s, the rewrite calls %s", name, want)
	}
}
