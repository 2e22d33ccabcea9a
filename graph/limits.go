package graph

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Limits refuses, before any resolver runs (so before any Redis or SQL
// work), an operation that nests too deep, has too many aliases or selects
// too many fields. One walk of the document measures all three, which are
// then checked in that order; the first broken is the refusal, a
// GRAPHQL_VALIDATION_FAILED error (a request error: HTTP 200 under
// application/json, 400 under application/graphql-response+json) whose
// extensions.limit names it
// ("depth", "aliases" or "fields"). The walk measures each fragment once,
// so it is linear in the document even when fragments spread one another
// many times; register Limits before the complexity limit, whose walk
// expands every spread anew and doubles its cost with each level of such
// fan-out. Every count is of the document as written, whatever its @skip
// and @include say, and of the document, not the answer: a list field
// counts its selection once, however many items it returns.
type Limits struct {
	// MaxDepth bounds how deep fields nest. A root field is at depth 1, its
	// subfields at 2, and so on; inline fragments and fragment spreads add
	// no depth of their own, and __typename and introspection fields count
	// like any other field.
	MaxDepth int
	// MaxAliases bounds the aliased fields (a field whose alias differs
	// from its name), counted through fragments: a fragment spread twice
	// counts its aliases twice.
	MaxAliases int
	// MaxFields bounds the fields selected, counted through fragments: a
	// fragment spread twice counts its fields twice, so fragments that each
	// spread the next twice double the count at every level. Every field
	// counts 1, __typename and introspection fields included; inline
	// fragments and spreads count nothing of their own.
	MaxFields int
}

var (
	_ graphql.HandlerExtension        = Limits{}
	_ graphql.OperationContextMutator = Limits{}
)

func (Limits) ExtensionName() string { return "Limits" }

func (l Limits) Validate(graphql.ExecutableSchema) error {
	if l.MaxDepth <= 0 || l.MaxAliases <= 0 || l.MaxFields <= 0 {
		return errors.New("Limits: MaxDepth, MaxAliases and MaxFields must be positive")
	}
	return nil
}

func (l Limits) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	m := measureOperation(oc.Doc, oc.Operation)
	switch {
	case m.depth > l.MaxDepth:
		return limitError("depth", gqlerror.Errorf(
			"operation has depth %d, which exceeds the limit of %d", m.depth, l.MaxDepth))
	case m.aliases > l.MaxAliases:
		return limitError("aliases", gqlerror.Errorf(
			"operation has %d aliased fields, which exceeds the limit of %d", m.aliases, l.MaxAliases))
	case m.fields > l.MaxFields:
		return limitError("fields", gqlerror.Errorf(
			"operation selects %d fields, which exceeds the limit of %d", m.fields, l.MaxFields))
	}
	return nil
}

// limitError marks err as a validation failure (answered as one, and
// passed as it is by presentError) and names the limit it broke.
func limitError(limit string, err *gqlerror.Error) *gqlerror.Error {
	errcode.Set(err, errcode.ValidationFailed)
	err.Extensions["limit"] = limit
	return err
}

// measure is what the limits read of a selection set: its depth, its
// aliased-field count and its field count, both counted through fragments.
type measure struct {
	depth, aliases, fields int
}

// maxCount bounds the alias and field counts: fragments that spread one
// another twice at each of many levels multiply them, and a count must not
// overflow. A count at maxCount means "at least this many".
const maxCount = 1 << 40

func addCount(a, b int) int {
	if a+b > maxCount {
		return maxCount
	}
	return a + b
}

// measureOperation measures op as written, whatever its @skip and @include
// say. Each fragment is measured once (its measure does not depend on where
// it is spread), so the walk is linear in the document even when fragments
// spread one another many times; a fragment met again while it is being
// measured — a cycle, which validation rejects anyway — counts as empty.
func measureOperation(doc *ast.QueryDocument, op *ast.OperationDefinition) measure {
	w := walker{doc: doc, done: map[string]measure{}, active: map[string]bool{}}
	return w.selectionSet(op.SelectionSet)
}

type walker struct {
	doc    *ast.QueryDocument
	done   map[string]measure
	active map[string]bool
}

func (w *walker) selectionSet(set ast.SelectionSet) measure {
	var m measure
	for _, sel := range set {
		var s measure
		switch sel := sel.(type) {
		case *ast.Field:
			s = w.selectionSet(sel.SelectionSet)
			s.depth++
			s.fields = addCount(s.fields, 1)
			if sel.Alias != "" && sel.Alias != sel.Name {
				s.aliases = addCount(s.aliases, 1)
			}
		case *ast.InlineFragment:
			s = w.selectionSet(sel.SelectionSet)
		case *ast.FragmentSpread:
			s = w.fragment(sel)
		}
		m.depth = max(m.depth, s.depth)
		m.aliases = addCount(m.aliases, s.aliases)
		m.fields = addCount(m.fields, s.fields)
	}
	return m
}

func (w *walker) fragment(spread *ast.FragmentSpread) measure {
	name := spread.Name
	if m, ok := w.done[name]; ok {
		return m
	}
	if w.active[name] {
		return measure{}
	}
	def := spread.Definition
	if w.doc != nil {
		if d := w.doc.Fragments.ForName(name); d != nil {
			def = d
		}
	}
	if def == nil {
		return measure{}
	}
	w.active[name] = true
	m := w.selectionSet(def.SelectionSet)
	delete(w.active, name)
	w.done[name] = m
	return m
}
