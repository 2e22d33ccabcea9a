package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// PersistedDocuments are the trusted operations of an Apollo persisted
// query manifest, as @apollo/generate-persisted-query-manifest writes it:
//
//	{"format": "apollo-persisted-query-manifest", "version": 1,
//	 "operations": [{"id": "<sha256 of body>", "name": "Me", "type": "query", "body": "query Me { … }"}]}
//
// A client runs one by sending its id as an automatic persisted query's
// hash (extensions.persistedQuery.sha256Hash), with no registration: the
// id is known from the start, in every process, without Redis.
type PersistedDocuments struct {
	bodies map[string]string   // by id
	known  map[string]struct{} // the bodies, for the safelist
}

// Manifest is the JSON of an Apollo persisted query manifest.
type manifest struct {
	Format     string `json:"format"`
	Version    int    `json:"version"`
	Operations []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Type string `json:"type"`
		Body string `json:"body"`
	} `json:"operations"`
}

const manifestFormat = "apollo-persisted-query-manifest"

// LoadPersistedDocuments reads the manifest at path; an empty path is no
// manifest (nil). A manifest that is not one Apollo's tooling writes is
// refused, with what is wrong and where.
func LoadPersistedDocuments(path string) (*PersistedDocuments, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // names the path
	}
	d, err := ParsePersistedDocuments(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// ParsePersistedDocuments reads a manifest: its format and version must be
// Apollo's ("apollo-persisted-query-manifest", 1), it must list at least
// one operation, and each operation needs a body, a type (query, mutation
// or subscription) and, as id, the SHA-256 of its body in lower-case hex
// (the id Apollo's tooling and clients compute). An id listed twice must
// name the same body, which a SHA-256 id cannot fail to.
func ParsePersistedDocuments(data []byte) (*PersistedDocuments, error) {
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not a JSON manifest: %w", err)
	}
	if m.Format != manifestFormat || m.Version != 1 {
		return nil, fmt.Errorf("format %q version %d, want %q version 1", m.Format, m.Version, manifestFormat)
	}
	if len(m.Operations) == 0 {
		return nil, errors.New("no operations")
	}
	d := &PersistedDocuments{bodies: make(map[string]string, len(m.Operations)), known: make(map[string]struct{}, len(m.Operations))}
	for i, op := range m.Operations {
		switch {
		case op.Body == "":
			return nil, fmt.Errorf("operations[%d] (%s): no body", i, op.Name)
		case op.Type != "query" && op.Type != "mutation" && op.Type != "subscription":
			return nil, fmt.Errorf("operations[%d] (%s): type %q, want query, mutation or subscription", i, op.Name, op.Type)
		case op.ID != sha256Hex(op.Body):
			return nil, fmt.Errorf("operations[%d] (%s): id %q is not the SHA-256 of its body (%s)", i, op.Name, op.ID, sha256Hex(op.Body))
		}
		d.bodies[op.ID] = op.Body
		d.known[op.Body] = struct{}{}
	}
	return d, nil
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Len is how many distinct operations the manifest holds.
func (d *PersistedDocuments) Len() int { return len(d.bodies) }

// has reports whether query is, byte for byte, the body of one of the
// operations; nil holds none.
func (d *PersistedDocuments) has(query string) bool {
	if d == nil {
		return false
	}
	_, ok := d.known[query]
	return ok
}

// documentStore answers persisted queries from the manifest first, then
// from next (the automatic persisted queries; nil: none). A query of the
// manifest is never registered: every process has it already.
type documentStore struct {
	docs *PersistedDocuments // nil: none
	next PersistedQueryStore // nil: nothing is registered
}

var _ PersistedQueryStore = documentStore{}

func (s documentStore) Get(ctx context.Context, hash string) (string, bool) {
	if s.docs != nil {
		if q, ok := s.docs.bodies[hash]; ok {
			return q, true
		}
	}
	if s.next == nil {
		return "", false
	}
	return s.next.Get(ctx, hash)
}

func (s documentStore) Put(ctx context.Context, hash, query string) error {
	if s.next == nil || s.docs.has(query) {
		return nil
	}
	return s.next.Put(ctx, hash, query)
}
