package graph

import (
	"strconv"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
)

// cacheScope is a CacheControlScope, or none.
type cacheScope uint8

const (
	scopeUnset cacheScope = iota
	scopePublic
	scopePrivate
)

// cachePolicy is Apollo Server's CachePolicy (cachePolicy.ts): a maxAge in
// seconds, or none (-1), and a scope, or none.
type cachePolicy struct {
	maxAge int32
	scope  cacheScope
}

var noPolicy = cachePolicy{maxAge: -1}

// restrict makes p at least as restrictive as h: the lower maxAge, and
// PRIVATE once either is.
func (p *cachePolicy) restrict(h cachePolicy) {
	if h.maxAge >= 0 && (p.maxAge < 0 || h.maxAge < p.maxAge) {
		p.maxAge = h.maxAge
	}
	if h.scope != scopeUnset && p.scope != scopePrivate {
		p.scope = h.scope
	}
}

// replace takes what h sets.
func (p *cachePolicy) replace(h cachePolicy) {
	if h.maxAge >= 0 {
		p.maxAge = h.maxAge
	}
	if h.scope != scopeUnset {
		p.scope = h.scope
	}
}

// cacheable is Apollo's policyIfCacheable: a maxAge of at least a second.
func (p cachePolicy) cacheable() bool { return p.maxAge > 0 }

// header is the Cache-Control of a cacheable answer, as Apollo Server
// writes it: "max-age=60, public" (PUBLIC unless a field said PRIVATE).
func (p cachePolicy) header() string {
	scope := "public"
	if p.scope == scopePrivate {
		scope = "private"
	}
	return "max-age=" + strconv.Itoa(int(p.maxAge)) + ", " + scope
}

// cacheAnnotation is what one @cacheControl says.
type cacheAnnotation struct {
	cachePolicy
	inheritMaxAge bool
}

// annotationOf reads @cacheControl among dirs as Apollo Server does
// (cacheAnnotationFromDirectives): maxAge only as an integer literal, scope
// only as PUBLIC or PRIVATE, and inheritMaxAge: true ignoring any maxAge.
func annotationOf(dirs ast.DirectiveList) cacheAnnotation {
	a := cacheAnnotation{cachePolicy: noPolicy}
	d := dirs.ForName("cacheControl")
	if d == nil {
		return a
	}
	if arg := d.Arguments.ForName("scope"); arg != nil && arg.Value.Kind == ast.EnumValue {
		switch arg.Value.Raw {
		case "PUBLIC":
			a.scope = scopePublic
		case "PRIVATE":
			a.scope = scopePrivate
		}
	}
	if arg := d.Arguments.ForName("inheritMaxAge"); arg != nil && arg.Value.Kind == ast.BooleanValue && arg.Value.Raw == "true" {
		a.inheritMaxAge = true
		return a
	}
	if arg := d.Arguments.ForName("maxAge"); arg != nil && arg.Value.Kind == ast.IntValue {
		if n, err := strconv.ParseInt(arg.Value.Raw, 10, 32); err == nil && n >= 0 {
			a.maxAge = int32(n)
		}
	}
	return a
}

// generatedFieldHints are the hints of root fields whose definitions gqlgen
// writes (federation's), where no directive can be put: as if the schema
// said @cacheControl(scope: PUBLIC). _entities answers public profiles, by
// the same lookups as users(ids:).
var generatedFieldHints = map[string]cacheAnnotation{
	"_entities": {cachePolicy: cachePolicy{maxAge: -1, scope: scopePublic}},
}

// cacheHints are the cache policies of every field of a schema, read from
// its @cacheControl hints once; an operation's policy is then a walk of its
// selections (operationPolicy), with no work per resolved field.
type cacheHints struct {
	fields map[*ast.FieldDefinition]fieldPolicies
}

// fieldPolicies are a field's policy at the root of an operation and below.
type fieldPolicies struct{ root, nested cachePolicy }

// newCacheHints reads the hints of schema. A field hinted scope: PUBLIC
// without a maxAge (nor inheritMaxAge) gets publicMaxAge, in whole seconds:
// the schema says who may cache the field, the setting how long.
// Introspection types and meta fields are left out, as Apollo Server leaves
// them out (it instruments no "__" type and no meta field).
func newCacheHints(schema *ast.Schema, publicMaxAge time.Duration) *cacheHints {
	h := &cacheHints{fields: map[*ast.FieldDefinition]fieldPolicies{}}
	public := int32(min(publicMaxAge/time.Second, 1<<31-1))
	for _, def := range schema.Types {
		if def.Kind != ast.Object || strings.HasPrefix(def.Name, "__") {
			continue
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			a := annotationOf(f.Directives)
			if g, ok := generatedFieldHints[f.Name]; ok && def == schema.Query && f.Directives.ForName("cacheControl") == nil {
				a = g
			}
			if a.scope == scopePublic && a.maxAge < 0 && !a.inheritMaxAge {
				a.maxAge = public
			}
			h.fields[f] = fieldPolicies{root: fieldPolicy(schema, f, a, true), nested: fieldPolicy(schema, f, a, false)}
		}
	}
	// A field selected on an interface is answered by one of its objects:
	// it gets the most restrictive of their policies.
	for _, def := range schema.Types {
		if def.Kind != ast.Interface || strings.HasPrefix(def.Name, "__") {
			continue
		}
		for _, f := range def.Fields {
			p := fieldPolicies{root: noPolicy, nested: noPolicy}
			for _, obj := range schema.GetPossibleTypes(def) {
				if of, ok := h.fields[obj.Fields.ForName(f.Name)]; ok {
					p.root.restrict(of.root)
					p.nested.restrict(of.nested)
				}
			}
			h.fields[f] = p
		}
	}
	return h
}

// fieldPolicy is the policy Apollo Server's cache control plugin gives a
// field with static hints only (willResolveField with defaultMaxAge 0): the
// hint of the type it returns, if composite, overridden by the field's own
// (a); then, still without a maxAge, 0 for a field at the root or one
// returning a composite type that does not inherit its parent's maxAge.
// Scalar fields without hints restrict nothing: they inherit.
func fieldPolicy(schema *ast.Schema, f *ast.FieldDefinition, a cacheAnnotation, root bool) cachePolicy {
	p := noPolicy
	inherit := false
	target := schema.Types[f.Type.Name()]
	composite := target != nil && (target.Kind == ast.Object || target.Kind == ast.Interface || target.Kind == ast.Union)
	if composite {
		t := annotationOf(target.Directives)
		p.replace(t.cachePolicy)
		inherit = t.inheritMaxAge
	}
	if a.inheritMaxAge && p.maxAge < 0 {
		inherit = true
		p.replace(cachePolicy{maxAge: -1, scope: a.scope})
	} else {
		p.replace(a.cachePolicy)
	}
	if p.maxAge < 0 && (composite && !inherit || root) {
		p.restrict(cachePolicy{maxAge: 0})
	}
	return p
}

// operationPolicy is the cache policy of op run with vars: the most
// restrictive policy of the fields it selects, skipped and included ones
// decided as gqlgen decides them.
//
// Apollo Server restricts by the fields it resolves; this takes every field
// the operation selects, so it differs only where a field is selected but
// not resolved (below a null, in an empty list, in a fragment on another
// type), and then it is the more restrictive. In this schema only root
// fields have policies, and they always resolve: the two agree.
func (h *cacheHints) operationPolicy(op *ast.OperationDefinition, vars map[string]any) cachePolicy {
	p := noPolicy
	h.walk(&p, op.SelectionSet, vars, true)
	return p
}

// walk restricts p by the fields of set, and reports false once p can no
// longer be cacheable (a maxAge of 0), where it stops.
func (h *cacheHints) walk(p *cachePolicy, set ast.SelectionSet, vars map[string]any, root bool) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if !included(s.Directives, vars) || strings.HasPrefix(s.Name, "__") {
				continue
			}
			fp, ok := h.fields[s.Definition]
			if !ok {
				// Every field validated against the schema is in the
				// table; one that is not is never taken as cacheable.
				*p = cachePolicy{maxAge: 0}
				return false
			}
			if root {
				p.restrict(fp.root)
			} else {
				p.restrict(fp.nested)
			}
			if p.maxAge == 0 || !h.walk(p, s.SelectionSet, vars, false) {
				return false
			}
		case *ast.InlineFragment:
			if included(s.Directives, vars) && !h.walk(p, s.SelectionSet, vars, root) {
				return false
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && included(s.Directives, vars) && !h.walk(p, s.Definition.SelectionSet, vars, root) {
				return false
			}
		}
	}
	return true
}

// included reports whether @skip and @include let a selection run.
// Validation has made their if: a Boolean!.
func included(dirs ast.DirectiveList, vars map[string]any) bool {
	for _, d := range dirs {
		if d.Name != "skip" && d.Name != "include" {
			continue
		}
		arg := d.Arguments.ForName("if")
		if arg == nil {
			continue
		}
		v, err := arg.Value.Value(vars)
		if b, ok := v.(bool); err == nil && ok && b == (d.Name == "skip") {
			return false
		}
	}
	return true
}
