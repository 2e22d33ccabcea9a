package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/graph"
	"github.com/headline/headline/store/persisted"
	"github.com/headline/headline/store/storetest"
)

// trustedDir is a small Apollo Client project: its operations (src/), the
// manifest @apollo/generate-persisted-query-manifest made of them
// (committed; TestTrustedManifestIsRegenerated remakes it) and client.mjs.
const (
	trustedDir      = "testdata/trusted-documents"
	trustedManifest = trustedDir + "/persisted-query-manifest.json"
)

// manifestOperations reads the committed manifest: each operation's body by
// its name, and the documents headline loads from it.
func manifestOperations(t *testing.T) (map[string]string, *graph.PersistedDocuments) {
	t.Helper()
	data, err := os.ReadFile(trustedManifest)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Operations []struct{ Name, Body string }
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	bodies := map[string]string{}
	for _, op := range m.Operations {
		bodies[op.Name] = op.Body
	}
	docs, err := graph.LoadPersistedDocuments(trustedManifest)
	if err != nil {
		t.Fatal(err)
	}
	return bodies, docs
}

// trustedServer is a test server with the manifest's documents, and a
// counter of its commands on persisted-query keys.
func trustedServer(t *testing.T, docs *graph.PersistedDocuments, only, apq bool) (*testServer, *storetest.RedisCounter) {
	t.Helper()
	s := newTestServer(t, func(c *testConfig) {
		c.GraphQL.PersistedDocuments, c.GraphQL.PersistedDocumentsOnly, c.APQ = docs, only, apq
	})
	return s, storetest.CountRedisKeys(s.RDB, persisted.Key(""))
}

// trustedCase is one request to a server with trusted documents, and what
// it must answer.
type trustedCase struct {
	name  string
	send  func(t *testing.T) apqResponse
	code  string // the one error's extensions.code; "": data, no error
	data  string // with code "", the data's JSON
	apq   string // commands on persisted-query keys, as takeAPQ shows them
	costs bool   // the request reached no Redis or SQL at all
}

func (tc trustedCase) check(t *testing.T, s *testServer, apq *storetest.RedisCounter) {
	s.ResetCounts()
	apq.Reset()
	r := tc.send(t)
	status := map[string]int{"": http.StatusOK, headline.ECodeNotInSafelist: http.StatusForbidden, headline.ECodeNotInList: http.StatusNotFound}[tc.code]
	if r.Status != status || r.Code("") != tc.code || (tc.code != "" && len(r.Errors) != 1) {
		t.Errorf("%s: %d %s; want %d with code %q", r.Method, r.Status, r.Raw, status, tc.code)
	}
	if tc.code == "" && len(r.Errors) > 0 {
		t.Errorf("errors: %s", r.Raw)
	}
	if got, _ := json.Marshal(r.Data); tc.code == "" && !sameJSON(t, got, json.RawMessage(tc.data)) {
		t.Errorf("data %s, want %s", got, tc.data)
	}
	// By GET, the only cacheable answers, a refusal says no cache may keep
	// it, as Apollo Router's do.
	if tc.code != "" && r.Method == http.MethodGet && r.CacheControl != "private, no-cache, must-revalidate" {
		t.Errorf("GET: Cache-Control %q, want Apollo Router's private, no-cache, must-revalidate", r.CacheControl)
	}
	if got := takeAPQ(apq); got != tc.apq {
		t.Errorf("persisted-query commands %s, want %s", got, tc.apq)
	}
	if tc.costs && (s.RC.RoundTrips() != 0 || s.SQL.Count("SELECT") != 0) {
		t.Errorf("a refusal cost %d Redis round trips and %d SELECT, want none", s.RC.RoundTrips(), s.SQL.Count("SELECT"))
	}
}

func userData(u headline.User) string {
	return fmt.Sprintf(`{"user":{"name":%q}}`, u.Name)
}

// TestTrustedDocumentsOnly: with PERSISTED_DOCUMENTS_ONLY, the manifest's
// operations run by id, by POST or GET, with no registration and no Redis
// read for their text; anything else is refused as Apollo Router refuses
// it, before any Redis or SQL work, and nothing is registered.
func TestTrustedDocumentsOnly(t *testing.T) {
	bodies, docs := manifestOperations(t)
	s, apq := trustedServer(t, docs, true, true)
	first := storetest.IDs(t, 2)
	users := servertest.SeqUsers(first, 2)
	s.AddUsers(t, users...)
	feed := map[string]any{"ids": []string{fmt.Sprint(first), fmt.Sprint(first + 1)}}
	feedData := fmt.Sprintf(`{"users":[{"__typename":"User","id":"%d","name":%q,"photo":%s},{"__typename":"User","id":"%d","name":%q,"photo":%s}]}`,
		first, users[0].Name, jsonString(users[0].Photo), first+1, users[1].Name, jsonString(users[1].Photo))
	other := `query UserName($id: ID!) { user(id: $id) { name } }`
	otherVars := map[string]any{"id": fmt.Sprint(first)}
	reformatted := strings.ReplaceAll(bodies["FeedAuthors"], "\n  ", " ")
	cases := []trustedCase{
		{name: "an operation of the manifest, by id", data: feedData, apq: "GET=0 SET=0",
			send: func(t *testing.T) apqResponse {
				return apqPost(t, s.URL, "", apqExtensions(sha256Hex(bodies["FeedAuthors"])), feed)
			}},
		{name: "by id, by GET", data: feedData, apq: "GET=0 SET=0",
			send: func(t *testing.T) apqResponse {
				return apqGet(t, s.URL, "", apqExtensions(sha256Hex(bodies["FeedAuthors"])), feed)
			}},
		{name: "its body in full, byte for byte", data: feedData, apq: "GET=0 SET=0",
			send: func(t *testing.T) apqResponse { return apqPost(t, s.URL, bodies["FeedAuthors"], nil, feed) }},
		{name: "its body reformatted", code: headline.ECodeNotInSafelist, apq: "GET=0 SET=0", costs: true,
			send: func(t *testing.T) apqResponse { return apqPost(t, s.URL, reformatted, nil, feed) }},
		{name: "another query", code: headline.ECodeNotInSafelist, apq: "GET=0 SET=0", costs: true,
			send: func(t *testing.T) apqResponse { return apqPost(t, s.URL, other, nil, otherVars) }},
		{name: "another query by GET", code: headline.ECodeNotInSafelist, apq: "GET=0 SET=0", costs: true,
			send: func(t *testing.T) apqResponse { return apqGet(t, s.URL, other, nil, otherVars) }},
		{name: "an APQ registration: refused, nothing stored", code: headline.ECodeNotInSafelist, apq: "GET=0 SET=0", costs: true,
			send: func(t *testing.T) apqResponse {
				return apqPost(t, s.URL, other, apqExtensions(sha256Hex(other)), otherVars)
			}},
		{name: "an id not in the manifest", code: headline.ECodeNotInList, apq: "GET=0 SET=0", costs: true,
			send: func(t *testing.T) apqResponse {
				return apqGet(t, s.URL, "", apqExtensions(sha256Hex(other)), otherVars)
			}},
		{name: "introspection", code: headline.ECodeNotInSafelist, apq: "GET=0 SET=0", costs: true,
			send: func(t *testing.T) apqResponse {
				return apqPost(t, s.URL, `{ __schema { queryType { name } } }`, nil, nil)
			}},
		{name: "a gateway's _service", code: headline.ECodeNotInSafelist, apq: "GET=0 SET=0", costs: true,
			send: func(t *testing.T) apqResponse { return apqPost(t, s.URL, `{ _service { sdl } }`, nil, nil) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, s, apq) })
	}
}

func jsonString(p *string) string {
	b, _ := json.Marshal(p)
	return string(b)
}

// TestTrustedDocumentsBesideAPQ: without PERSISTED_DOCUMENTS_ONLY, the
// manifest's operations run by id from the first request, in every
// process, without a Redis read or a registration; other queries run and
// register as APQ has them. With APQ off, its ids still run.
func TestTrustedDocumentsBesideAPQ(t *testing.T) {
	bodies, docs := manifestOperations(t)
	first := storetest.IDs(t, 1)
	u := servertest.SeqUsers(first, 1)[0]
	other := `query UserName($id: ID!) { user(id: $id) { name } }`
	vars := map[string]any{"id": fmt.Sprint(first)}
	feed := map[string]any{"ids": []string{fmt.Sprint(first)}}
	feedData := fmt.Sprintf(`{"users":[{"__typename":"User","id":"%d","name":%q,"photo":%s}]}`, first, u.Name, jsonString(u.Photo))
	feedByID := func(s *testServer) func(t *testing.T) apqResponse {
		return func(t *testing.T) apqResponse {
			return apqPost(t, s.URL, "", apqExtensions(sha256Hex(bodies["FeedAuthors"])), feed)
		}
	}

	s, apq := trustedServer(t, docs, false, true)
	s.AddUsers(t, u)
	for _, tc := range []trustedCase{
		{name: "APQ on: a manifest id, no Redis read", data: feedData, apq: "GET=0 SET=0", send: feedByID(s)},
		{name: "APQ on: its body with its id, not registered", data: feedData, apq: "GET=0 SET=0",
			send: func(t *testing.T) apqResponse {
				return apqPost(t, s.URL, bodies["FeedAuthors"], apqExtensions(sha256Hex(bodies["FeedAuthors"])), feed)
			}},
		{name: "APQ on: another query registers", data: userData(u), apq: "GET=0 SET=1",
			send: func(t *testing.T) apqResponse { return apqPost(t, s.URL, other, apqExtensions(sha256Hex(other)), vars) }},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, s, apq) })
	}

	off, offAPQ := trustedServer(t, docs, false, false)
	for _, tc := range []trustedCase{
		{name: "APQ off: a manifest id", data: feedData, apq: "GET=0 SET=0", send: feedByID(off)},
		{name: "APQ off: another query", data: userData(u), apq: "GET=0 SET=0",
			send: func(t *testing.T) apqResponse { return apqPost(t, off.URL, other, nil, vars) }},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, off, offAPQ) })
	}
}

// TestTrustedManifestIsRegenerated remakes the manifest from the client
// project's operations with @apollo/generate-persisted-query-manifest and
// compares it with the committed one, which the other tests load: it is
// what Apollo's tool writes, and it is up to date.
func TestTrustedManifestIsRegenerated(t *testing.T) {
	node := servertest.NeedProgram(t, "node")
	modules := servertest.NeedNodeModules(t, trustedDir)
	out := filepath.Join(t.TempDir(), "manifest.json")
	config := filepath.Join(t.TempDir(), "config.json")
	cfg, _ := json.Marshal(map[string]any{"documents": []string{"src/**/*.graphql"}, "output": out})
	if err := os.WriteFile(config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(modules, ".bin", "generate-persisted-query-manifest"), "--config", config)
	cmd.Dir = trustedDir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate-persisted-query-manifest: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(trustedManifest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what `npm run manifest` makes of src/ now; run it there and commit the result.\ngot:\n%s", trustedManifest, got)
	}
}

// trustedStep is one line client.mjs printed.
type trustedStep struct {
	Step      string          `json:"step"`
	Operation string          `json:"operation"`
	Data      json.RawMessage `json:"data"`
	Codes     []string        `json:"codes"`
}

// TestTrustedDocumentsClient runs an Apollo Client app (client.mjs) that
// sends its operations by the manifest's ids, against a server that runs
// nothing else: they run, sent without their text; a query sent in full by
// a client without the manifest is refused with QUERY_NOT_IN_SAFELIST.
func TestTrustedDocumentsClient(t *testing.T) {
	node := servertest.NeedProgram(t, "node")
	servertest.NeedNodeModules(t, trustedDir)
	_, docs := manifestOperations(t)
	s, _ := trustedServer(t, docs, true, true)
	first := storetest.IDs(t, 3)
	users := servertest.SeqUsers(first, 3)
	s.AddUsers(t, users...)
	rec := &costRecorder{s: s}
	hs := httptest.NewServer(rec)
	t.Cleanup(hs.Close)

	steps := runTrustedClient(t, node, hs.URL+"/graphql", first, []string{fmt.Sprint(first + 1), fmt.Sprint(first + 2)})
	card := func(u headline.User) string {
		return fmt.Sprintf(`{"__typename":"User","id":"%d","name":%q,"photo":%s}`, u.ID, u.Name, jsonString(u.Photo))
	}
	wants := []struct {
		step, data, code string
		status           int
	}{
		{"Me, by id", fmt.Sprintf(`{"me":{"__typename":"User","id":"%d","name":%q,"photo":%s,"intro":%s,"certi":%s}}`,
			first, users[0].Name, jsonString(users[0].Photo), jsonString(users[0].Intro), jsonString(users[0].Certi)), "", 200},
		{"FeedAuthors, by id", `{"users":[` + card(users[1]) + "," + card(users[2]) + `]}`, "", 200},
		{"UpdateIntro, by id", fmt.Sprintf(`{"updateMe":{"__typename":"User","id":"%d","intro":"Edited by id."}}`, first), "", 200},
		{"a query not in the manifest, in full", "null", headline.ECodeNotInSafelist, http.StatusForbidden},
	}
	if len(steps) != len(wants) || len(rec.costs) != len(wants) {
		t.Fatalf("client.mjs printed %d steps and headline saw %d requests, want %d each: %v", len(steps), len(rec.costs), len(wants), steps)
	}
	for i, w := range wants {
		got, cost := steps[i], rec.costs[i]
		if got.Step != w.step || !sameJSON(t, got.Data, json.RawMessage(w.data)) || strings.Join(got.Codes, " ") != w.code || cost.status != w.status {
			t.Errorf("%s: data %s, codes %v, status %d; want %s, %q, %d", w.step, got.Data, got.Codes, cost.status, w.data, w.code, w.status)
		}
		if sentText := requestQuery(t, cost.body) != ""; sentText != (w.code != "") {
			t.Errorf("%s: the request carried its query text: %v, want %v: %s", w.step, sentText, w.code != "", cost.body)
		}
	}
}

// runTrustedClient runs client.mjs against url as user reader, with the
// feed's author ids, and returns the steps it printed.
func runTrustedClient(t *testing.T, node, url string, reader int64, feed []string) []trustedStep {
	t.Helper()
	ids, _ := json.Marshal(feed)
	steps, _, _ := runNode[trustedStep](t, node, trustedDir, "client.mjs", time.Minute,
		"HEADLINE_URL="+url, "HEADLINE_TOKEN="+mustMint(t, reader), "FEED_IDS="+string(ids))
	return steps
}
