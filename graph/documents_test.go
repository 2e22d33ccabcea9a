package graph_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/headline/headline/graph"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestParsePersistedDocuments: a manifest headline would serve wrongly is
// refused, saying what is wrong and where.
func TestParsePersistedDocuments(t *testing.T) {
	const body = `query Me { me { id } }`
	const id = "00efb6f7d4bf1b8c2ab6c2f3ab64fb2e4cd6bb8c23f7ab1f5c5046db9fd0b4a0" // not its SHA-256
	op := func(id, typ, body string) string {
		return `{"id":"` + id + `","name":"Me","type":"` + typ + `","body":"` + body + `"}`
	}
	good := sha256Hex(body)
	manifest := func(ops ...string) string {
		return `{"format":"apollo-persisted-query-manifest","version":1,"operations":[` + strings.Join(ops, ",") + `]}`
	}
	cases := []struct {
		name, json, err string // err: "" for a manifest served
	}{
		{"one operation", manifest(op(good, "query", body)), ""},
		{"an operation listed twice", manifest(op(good, "query", body), op(good, "query", body)), ""},
		{"not JSON", `{"format":`, "not a JSON manifest"},
		{"another format", `{"format":"relay","version":1,"operations":[]}`, `format "relay" version 1, want "apollo-persisted-query-manifest" version 1`},
		{"another version", `{"format":"apollo-persisted-query-manifest","version":2}`, "version 2"},
		{"no operations", manifest(), "no operations"},
		{"no body", manifest(op(sha256Hex(""), "query", "")), "operations[0] (Me): no body"},
		{"an unknown type", manifest(op(good, "Query", body)), `operations[0] (Me): type "Query", want query, mutation or subscription`},
		{"an id that is not the body's SHA-256", manifest(op(good, "query", body), op(id, "query", body)),
			`operations[1] (Me): id "` + id + `" is not the SHA-256 of its body (` + good + `)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := graph.ParsePersistedDocuments([]byte(tc.json))
			switch {
			case tc.err == "" && (err != nil || d.Len() != 1):
				t.Errorf("refused or miscounted: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want one saying %q", err, tc.err)
			}
		})
	}
}

func TestLoadPersistedDocuments(t *testing.T) {
	if d, err := graph.LoadPersistedDocuments(""); d != nil || err != nil {
		t.Errorf("no path: %v, %v; want no documents, no error", d, err)
	}
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.json")
	if _, err := graph.LoadPersistedDocuments(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("a missing file: %v, want an error naming it", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := graph.LoadPersistedDocuments(bad); err == nil || !strings.HasPrefix(err.Error(), bad+": format") {
		t.Errorf("a manifest of another format: %v, want an error naming the file and the format", err)
	}
	if err := (graph.Options{PersistedDocumentsOnly: true}).Check(); err == nil || !strings.Contains(err.Error(), "PERSISTED_DOCUMENTS_ONLY") {
		t.Errorf("PersistedDocumentsOnly without documents: %v, want it refused", err)
	}
}
