package graph

import (
	"context"
	"fmt"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/vektah/gqlparser/v2/ast"
)

// What a kept document costs, in bytes of heap, measured with gqlparser
// v2.5.64 (TestDocumentCostCoversTheHeap checks it still holds): about 220
// bytes per AST node once validated, and 405 for a __typename field, for
// which validation allocates a definition of its own. The charge rounds
// up, so the cache's byte count is an upper bound of what it holds.
const (
	nodeCost      = 256 // a field, argument, value, directive, variable, fragment or operation
	typenameCost  = 256 // more, per __typename field
	commentCost   = 128 // a comment kept in the AST (gqlparser keeps them)
	docEntryCost  = 128 // the cache's own list element and map entry
	maxEntryShare = 64  // a document over 1/64 of the budget is not kept
)

// docCache is the cache of parsed and validated documents, by query text,
// bounded by entries and by bytes: gqlgen's lru.New bounds entries only,
// and an entry keeps its query text whole (the AST's Source), so 1,000
// entries of distinct 1 MiB queries (padded with a comment) held ~1 GiB.
// A document that alone would cost more than maxEntry is parsed and
// validated for each request that sends it, and not kept: at the default
// budget that is 512 KiB, more than the full introspection query (~25 KB
// charged) or 100 aliased users(id:) with all five fields (~212 KB).
type docCache struct {
	maxBytes, maxEntry int64

	mu    sync.Mutex
	lru   *simplelru.LRU[string, docEntry]
	bytes int64 // the charge of the documents held
}

type docEntry struct {
	doc  *ast.QueryDocument
	cost int64
}

var _ graphql.Cache[*ast.QueryDocument] = (*docCache)(nil)

func newDocCache(maxEntries int, maxBytes int64) *docCache {
	c := &docCache{maxBytes: maxBytes, maxEntry: maxBytes / maxEntryShare}
	l, err := simplelru.NewLRU(maxEntries, func(_ string, e docEntry) { c.bytes -= e.cost })
	if err != nil {
		// Only a size ≤ 0 fails, which withDefaults rules out.
		panic(fmt.Sprintf("graph: document cache: %v", err))
	}
	c.lru = l
	return c
}

func (c *docCache) Get(_ context.Context, query string) (*ast.QueryDocument, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Get(query)
	return e.doc, ok
}

// Add keeps doc unless it alone costs more than maxEntry, then drops the
// least recently used documents until the charge is within maxBytes.
func (c *docCache) Add(_ context.Context, query string, doc *ast.QueryDocument) {
	cost := documentCost(query, doc)
	if cost > c.maxEntry {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.lru.Peek(query); ok {
		// Two requests parsed it at once; Add replaces without an eviction.
		c.bytes -= old.cost
	}
	c.lru.Add(query, docEntry{doc: doc, cost: cost})
	c.bytes += cost
	for c.bytes > c.maxBytes {
		c.lru.RemoveOldest()
	}
}

// stats returns the documents kept and their charge in bytes.
func (c *docCache) stats() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.bytes
}

// documentCost is what keeping doc, parsed from query, costs: the query
// text (the AST's Source and every name in it point into it), the AST's
// nodes, and the string literals, counted whole, since gqlparser copies
// those that have escapes (and shares the others with the text).
func documentCost(query string, doc *ast.QueryDocument) int64 {
	var w costWalker
	for _, op := range doc.Operations {
		w.node(op.Comment)
		for _, v := range op.VariableDefinitions {
			w.node(v.Comment)
			w.value(v.DefaultValue)
			w.directives(v.Directives)
		}
		w.directives(op.Directives)
		w.selections(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		w.node(f.Comment)
		w.directives(f.Directives)
		w.selections(f.SelectionSet)
	}
	return allocated(len(query)) + docEntryCost + w.cost
}

// allocated is what a string of n bytes costs: the allocator rounds it up
// to its size class, or to whole pages, by up to an eighth.
func allocated(n int) int64 { return int64(n) + int64(n)/8 }

type costWalker struct{ cost int64 }

// node charges one node and its comments.
func (w *costWalker) node(comment *ast.CommentGroup) {
	w.cost += nodeCost
	if comment != nil {
		w.cost += commentCost * int64(len(comment.List))
	}
}

func (w *costWalker) selections(set ast.SelectionSet) {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			w.node(sel.Comment)
			if sel.Name == "__typename" {
				w.cost += typenameCost
			}
			for _, a := range sel.Arguments {
				w.node(a.Comment)
				w.value(a.Value)
			}
			w.directives(sel.Directives)
			w.selections(sel.SelectionSet)
		case *ast.InlineFragment:
			w.node(sel.Comment)
			w.directives(sel.Directives)
			w.selections(sel.SelectionSet)
		case *ast.FragmentSpread:
			w.node(sel.Comment)
			w.directives(sel.Directives)
		}
	}
}

func (w *costWalker) directives(ds ast.DirectiveList) {
	for _, d := range ds {
		w.node(nil)
		for _, a := range d.Arguments {
			w.node(a.Comment)
			w.value(a.Value)
		}
	}
}

func (w *costWalker) value(v *ast.Value) {
	if v == nil {
		return
	}
	w.node(v.Comment)
	if v.Kind == ast.StringValue || v.Kind == ast.BlockValue {
		w.cost += allocated(len(v.Raw))
	}
	for _, c := range v.Children {
		// The child's own struct is within its value's charge.
		if c.Comment != nil {
			w.cost += commentCost * int64(len(c.Comment.List))
		}
		w.value(c.Value)
	}
}
