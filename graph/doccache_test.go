package graph

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/99designs/gqlgen/graphql/introspection"
	"github.com/vektah/gqlparser/v2/ast"
)

// liveHeap is the heap in use once garbage is collected.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// docShapes are documents a cache may keep: legitimate big ones (the full
// introspection query, 100 aliased users) and ones a client could craft to
// cost the most per byte or per token.
var docShapes = []struct {
	name  string
	query func(i int) string
}{
	{"a small query", func(i int) string { return fmt.Sprintf(`query Q%d { user(id: "1") { id name } }`, i) }},
	{"the full introspection query", func(i int) string { return fmt.Sprintf("# %d\n%s", i, introspection.Query) }},
	{"100 aliased users with all fields", func(i int) string {
		var b strings.Builder
		for j := range 100 {
			fmt.Fprintf(&b, " u%d: user(id: \"%d\") { id name photo intro certi }", j, i*1000+j)
		}
		return "{" + b.String() + " }"
	}},
	{"users(ids:) with 100 ids", func(i int) string {
		return fmt.Sprintf(`{ users(ids: [%s"%d"]) { id name photo intro certi } }`, strings.Repeat(`"1",`, 99), i)
	}},
	{"300 variables with defaults", func(i int) string {
		var defs, uses strings.Builder
		for j := range 300 {
			fmt.Fprintf(&defs, " $v%d: ID = \"%d\"", j, i)
			fmt.Fprintf(&uses, " u%d: user(id: $v%d) { id }", j, j)
		}
		return "query(" + defs.String() + ") {" + uses.String() + " }"
	}},
	{"500 __typename", func(i int) string { return fmt.Sprintf("query Q%d {%s }", i, strings.Repeat(" __typename", 500)) }},
	{"an escaped string literal", func(i int) string {
		return fmt.Sprintf(`mutation { updateMe(input: {intro: "%d%s"}) { id } }`, i, strings.Repeat(`\u0041`, 2000))
	}},
	{"comments between fields", func(i int) string {
		return fmt.Sprintf("query Q%d { user(id: \"1\") {%s id } }", i, strings.Repeat(" #c\n name", 300))
	}},
	{"1 MiB padded with a comment", func(i int) string {
		return fmt.Sprintf("# %d %s\n{ __typename }", i, strings.Repeat("x", 1<<20-100))
	}},
}

// TestDocumentCostCoversTheHeap: what the cache charges for a document is
// at least what keeping it costs in heap (query text, AST, validation's
// annotations, the cache's entry), measured through gqlgen's executor, and
// at most twice that and 1 KiB, so the byte budget is neither exceeded nor
// wasted.
func TestDocumentCostCoversTheHeap(t *testing.T) {
	es := NewExecutableSchema(Config{Resolvers: &Resolver{}})
	for _, shape := range docShapes {
		t.Run(shape.name, func(t *testing.T) {
			n := 50
			if len(shape.query(0)) > 1<<16 {
				n = 5
			}
			cache := newDocCache(n, 1<<40)
			exec := executor.New(es)
			exec.SetQueryCache(cache)
			before := liveHeap()
			for i := range n {
				ctx := graphql.StartOperationTrace(context.Background())
				if _, errs := exec.CreateOperationContext(ctx, &graphql.RawParams{Query: shape.query(i)}); errs != nil {
					t.Fatalf("%s: %v", shape.name, errs)
				}
			}
			held := float64(liveHeap()-before) / float64(n)
			entries, charged := cache.stats()
			if entries != n {
				t.Fatalf("the cache kept %d of %d documents", entries, n)
			}
			perEntry := float64(charged) / float64(n)
			t.Logf("%8.0f bytes held, %8.0f charged per document (%.2f×)", held, perEntry, perEntry/held)
			if perEntry < held {
				t.Errorf("charged %.0f bytes per document, but each holds %.0f", perEntry, held)
			}
			if perEntry > 2*held+1024 {
				t.Errorf("charged %.0f bytes per document, more than twice the %.0f each holds and 1 KiB", perEntry, held)
			}
			runtime.KeepAlive(cache)
		})
	}
}

func TestDocCacheBounds(t *testing.T) {
	ctx := context.Background()
	doc := &ast.QueryDocument{}
	// query returns distinct query texts of n bytes.
	query := func(i, n int) string {
		s := fmt.Sprintf("q%d ", i)
		return s + strings.Repeat("x", n-len(s))
	}
	cost := documentCost(query(0, 1000), doc) // of every query(i, 1000)
	has := func(c *docCache, q string) bool { _, ok := c.Get(ctx, q); return ok }

	t.Run("bounded by entries", func(t *testing.T) {
		c := newDocCache(3, 1<<20)
		for i := range 5 {
			c.Add(ctx, query(i, 1000), doc)
		}
		if n, b := c.stats(); n != 3 || b != 3*cost {
			t.Errorf("kept %d documents, %d bytes; want 3, %d", n, b, 3*cost)
		}
		if has(c, query(1, 1000)) || !has(c, query(2, 1000)) {
			t.Error("want the least recently used dropped first")
		}
	})
	t.Run("bounded by bytes, least recently used dropped first", func(t *testing.T) {
		c := newDocCache(100, 64*cost)
		for i := range 64 {
			c.Add(ctx, query(i, 1000), doc)
		}
		has(c, query(0, 1000)) // now the most recently used
		c.Add(ctx, query(64, 1000), doc)
		if n, b := c.stats(); n != 64 || b != 64*cost {
			t.Errorf("kept %d documents, %d bytes; want 64, %d", n, b, 64*cost)
		}
		if !has(c, query(0, 1000)) || has(c, query(1, 1000)) {
			t.Error("want document 1, the least recently used, dropped")
		}
	})
	t.Run("a document over 1/64 of the budget is not kept", func(t *testing.T) {
		c := newDocCache(100, 64*cost)
		c.Add(ctx, query(0, 1000), doc)
		c.Add(ctx, query(1, 1010), doc)
		if !has(c, query(0, 1000)) || has(c, query(1, 1010)) {
			t.Error("want a document of 1/64 of the budget kept, and a larger one not")
		}
	})
	t.Run("adding a kept document again charges it once", func(t *testing.T) {
		c := newDocCache(100, 1<<20)
		c.Add(ctx, query(0, 1000), doc)
		c.Add(ctx, query(0, 1000), doc)
		if n, b := c.stats(); n != 1 || b != cost {
			t.Errorf("kept %d documents, %d bytes; want 1, %d", n, b, cost)
		}
	})
}
