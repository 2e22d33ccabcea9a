package main

import (
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/headline/headline/graph/internal/gqlgenrt"
)

// generated is gqlgen v0.17.98's output for two lists, an object and a
// scalar field, cut down.
const generated = `package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/headline/headline"
	"github.com/vektah/gqlparser/v2/ast"
)

func (ec *executionContext) fieldContext_User_id(_ context.Context, field graphql.CollectedField) (fc *graphql.FieldContext, err error) {
	return graphql.NewScalarFieldContext("User", field, false, false, "ID")
}

func (ec *executionContext) _User_id(ctx context.Context, field graphql.CollectedField, obj *headline.User) (ret graphql.Marshaler) {
	return graphql.ResolveField(
		ctx,
		ec.OperationContext,
		field,
		func(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) {
			return ec.fieldContext_User_id(ctx, field)
		},
		func(ctx context.Context) (any, error) {
			return obj.ID, nil
		},
		nil,
		func(ctx context.Context, selections ast.SelectionSet, v int64) graphql.Marshaler {
			return ec.marshalNID2int64(ctx, selections, v)
		},
		true,
		true,
	)
}

func (ec *executionContext) _User(ctx context.Context, sel ast.SelectionSet, obj *headline.User) graphql.Marshaler {
	fields := graphql.CollectFields(ec.OperationContext, sel, userImplementors)

	out := graphql.NewFieldSet(fields)
	deferred := graphql.NewDeferredGroup(ctx)
	for i, field := range fields {
		out.Values[i] = ec._User_id(ctx, field, obj)
	}
	out.Dispatch(ctx)
	if out.Invalids > 0 {
		return graphql.Null
	}

	if n := len(deferred.Defers); n > 0 {
		atomic.AddInt32(&ec.Deferred, int32(min(n, math.MaxInt32)))
		ec.ProcessDeferredGroup(deferred)
	}

	return out
}

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

// userPlan is the plan for generated: User's list and object, not Post's.
func userPlan() plan {
	return plan{lists: map[string]string{"marshalNUser2ᚕᚖUser": "User"}, plainObjects: map[string]bool{"_User": true},
		plainFields: map[string]bool{"_User_id": true}}
}

func TestRewriteChangesOnlyWhatThePlanSays(t *testing.T) {
	got, err := rewrite([]byte(generated), userPlan())
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer(
		"\t\"github.com/headline/headline\"\n",
		"\t\"github.com/headline/headline\"\n\t\""+runtimePkg+"\"\n",
		"graphql.NewScalarFieldContext(", "gqlgenrt.NewScalarFieldContext(",
		"deferred := graphql.NewDeferredGroup(ctx)", "var deferred graphql.DeferredGroup",
		"obj *headline.User) (ret graphql.Marshaler) {\n\treturn graphql.ResolveField(",
		"obj *headline.User) (ret graphql.Marshaler) {\n\tif gqlgenrt.DirectPlainFields(ec.Resolvers) {\n\t\treturn ec.marshalNID2int64(ctx, field.Selections, obj.ID)\n\t}\n\treturn graphql.ResolveField(",
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
		{"an object marshaller gqlgen did not write", generated,
			func(p *plan) { p.plainObjects["_Team"] = true }, "gqlgen wrote no _Team"},
		{"an object that makes its DeferredGroup otherwise",
			strings.Replace(generated, "deferred := graphql.NewDeferredGroup(ctx)", "deferred := graphql.NewDeferredGroupAt(ctx, nil)", 1),
			nil, "_User does not make its DeferredGroup with deferred := graphql.NewDeferredGroup(ctx)"},
		{"an object that hands its DeferredGroup on",
			strings.Replace(generated, "out.Values[i] = ec._User_id(ctx, field, obj)", "out.ResolveConcurrently(ec.OperationContext, &deferred, i, true, true, nil)", 1),
			nil, "_User uses its DeferredGroup in 1 places other than"},
		{"a plain field gqlgen did not write", generated,
			func(p *plan) { p.plainFields["_User_name"] = true }, "gqlgen wrote no _User_name"},
		{"a plain field whose resolver calls a method",
			strings.Replace(generated, "return obj.ID, nil", "return obj.GetID(), nil", 1),
			nil, "_User_id's resolver does not return obj.<field>, nil"},
		{"a plain field marshalled otherwise",
			strings.Replace(generated, "return ec.marshalNID2int64(ctx, selections, v)", "return ec.marshalNID2int64(ctx, nil, v)", 1),
			nil, "_User_id's marshaller does not call a function of (ctx, selections, v)"},
		{"a plain field not resolved by graphql.ResolveField",
			strings.Replace(generated, "return graphql.ResolveField(\n\t\tctx,", "return graphql.ResolveFieldWithCache(\n\t\tctx,", 1),
			nil, "_User_id is not one return of graphql.ResolveField"},
		{"no scalar field context",
			strings.Replace(generated, "graphql.NewScalarFieldContext(", "graphql.NewFieldContext(", 1),
			nil, "no call of graphql.NewScalarFieldContext"},
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
