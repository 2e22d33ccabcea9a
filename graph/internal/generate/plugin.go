package main

import (
	"maps"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/codegen"
	"github.com/vektah/gqlparser/v2/ast"
)

// planPlugin is a gqlgen plugin that generates nothing: it reads gqlgen's
// model of the schema (codegen.Data) and plans the rewrite that follows
// api.Generate.
type planPlugin struct{ plan plan }

// plan is what the rewrite changes in generated.go, by function name.
type plan struct {
	// lists maps each list marshaller whose elements never wait
	// ("marshalNUser2ᚕᚖ…") to the GraphQL type of its elements.
	lists map[string]string
	// plainObjects are the marshallers of objects without a field that
	// gqlgen resolves concurrently ("_User"): their DeferredGroup, which
	// only such fields fill, stays empty.
	plainObjects map[string]bool
	// plainFields are the functions of fields that gqlgen resolves by
	// reading a struct field of a scalar or enum type ("_User_name"):
	// written directly while no field interceptor wants them
	// (gqlgenrt.DirectPlainFields).
	plainFields map[string]bool
}

func (*planPlugin) Name() string { return "headline-rewrite-plan" }

// GenerateCode runs before gqlgen writes generated.go, with the same Data.
func (p *planPlugin) GenerateCode(data *codegen.Data) error {
	p.plan = plan{lists: sequentialLists(data), plainObjects: plainObjects(data), plainFields: plainFields(data)}
	return nil
}

// plainFields returns the functions of the fields that graphql.ResolveField
// only reads: a struct field (not a method, not a map entry) of a scalar or
// enum type, not a list (whose marshaller reads the field's FieldContext),
// with no resolver, arguments or directive, on an object that is not a
// root and has no directive run at run time.
func plainFields(data *codegen.Data) map[string]bool {
	fields := map[string]bool{}
	for _, obj := range data.Objects {
		if obj.Root || obj.Stream || slices.ContainsFunc(obj.Directives, runsAtRunTime) {
			continue
		}
		for _, f := range obj.Fields {
			kind := f.TypeReference.Definition.Kind
			if f.IsResolver || !f.IsVariable() || len(f.Args) > 0 || f.HasDirectives() || f.TypeReference.IsSlice() ||
				(kind != ast.Scalar && kind != ast.Enum) || strings.HasPrefix(f.Name, "__") {
				continue
			}
			fields["_"+obj.Name+"_"+f.Name] = true
		}
	}
	return fields
}

// plainObjects returns the marshallers of the objects whose fields gqlgen
// resolves one after another in the object's own goroutine: object.gotpl
// hands the DeferredGroup only to fields it resolves concurrently. Roots
// are left alone: one per request, nothing to gain.
func plainObjects(data *codegen.Data) map[string]bool {
	objects := map[string]bool{}
	for _, obj := range data.Objects {
		if !obj.Root && !obj.Stream && !obj.IsConcurrent() {
			objects["_"+obj.Name] = true
		}
	}
	return objects
}

// sequentialLists returns the list marshallers that gqlgen generates with
// graphql.MarshalSliceConcurrently (a list of anything but scalars) and
// whose elements never wait: see reachesWait.
func sequentialLists(data *codegen.Data) map[string]string {
	lists := map[string]string{}
	for _, key := range slices.Sorted(maps.Keys(data.ReferencedTypes)) {
		ref := data.ReferencedTypes[key]
		// Only a list type's MarshalFunc wraps MarshalSliceConcurrently;
		// Definition is its innermost element type, through nested lists.
		if !ref.IsSlice() || ref.IsScalar() || ref.MarshalFunc() == "" {
			continue
		}
		if !reachesWait(data, ref.Definition, map[string]bool{}) {
			lists[ref.MarshalFunc()] = ref.Definition.Name
		}
	}
	return lists
}

// reachesWait reports whether marshalling a value of type def can wait on
// anything: whether an object it reaches has a field that gqlgen runs
// concurrently (a resolver or a method taking a context), a batch resolver,
// or a directive implemented at run time (which could wait), on the field
// or its object. Such fields
// stay concurrent within their object, but the object's marshaller waits
// for them, so sequential elements would wait one after another instead of
// together. seen holds the types already on the way, so a type that reaches
// itself is decided by its other fields; no answer is kept across calls,
// since one found while a cycle is half explored could be wrong.
func reachesWait(data *codegen.Data, def *ast.Definition, seen map[string]bool) bool {
	if seen[def.Name] {
		return false
	}
	seen[def.Name] = true
	switch def.Kind {
	case ast.Scalar, ast.Enum:
		return false
	case ast.Interface, ast.Union:
		for _, impl := range data.Schema.GetPossibleTypes(def) {
			if reachesWait(data, impl, seen) {
				return true
			}
		}
		return false
	case ast.Object:
		return objectReachesWait(data, def.Name, seen)
	}
	return true
}

// runsAtRunTime reports whether gqlgen generates code that calls d: not
// for a directive marked SkipRuntime, such as federation's @key and
// @entityResolver on User.
func runsAtRunTime(d *codegen.Directive) bool { return !d.SkipRuntime }

func objectReachesWait(data *codegen.Data, name string, seen map[string]bool) bool {
	i := slices.IndexFunc(data.Objects, func(o *codegen.Object) bool { return o.Name == name })
	if i < 0 {
		return true
	}
	obj := data.Objects[i]
	if obj.Root || slices.ContainsFunc(obj.Directives, runsAtRunTime) {
		return true
	}
	for _, f := range obj.Fields {
		if f.IsConcurrent() || f.IsBatch() || f.HasDirectives() {
			return true
		}
		if reachesWait(data, f.TypeReference.Definition, seen) {
			return true
		}
	}
	return false
}
