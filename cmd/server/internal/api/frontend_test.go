package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/storetest"
)

// frontendDir holds the npm packages of the tests that run what a browser or
// a JavaScript client runs (package.json, package-lock.json; `npm ci` there
// installs node_modules, which .ci/run does).
const frontendDir = "testdata/frontend"

// requestCost is what one request cost the server, counted at its clients.
type requestCost struct {
	operation  string
	body       []byte // the request's, as sent
	status     int
	roundTrips int // Redis
	mgets      int
	selects    int
}

// costRecorder serves the test server's handler one request at a time and
// records each request's Redis round trips and SELECTs, counted by the
// server's own Redis hook and SQL hook. Serving one at a time is what makes
// a count belong to one request; the client sends one at a time anyway.
type costRecorder struct {
	s     *testServer
	mu    sync.Mutex
	costs []requestCost
}

func (c *costRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req struct {
		OperationName string `json:"operationName"`
	}
	_ = json.Unmarshal(body, &req) // a body that is not JSON is the server's to refuse

	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.ResetCounts()
	rec := httptest.NewRecorder()
	c.s.Handler.ServeHTTP(rec, r)
	c.costs = append(c.costs, requestCost{
		operation:  req.OperationName,
		body:       body,
		status:     rec.Code,
		roundTrips: c.s.RC.RoundTrips(),
		mgets:      c.s.RC.Count("MGET"),
		selects:    c.s.SQL.Count("SELECT"),
	})
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// clientStep is one line client.mjs printed: what the frontend got back.
type clientStep struct {
	Step      string                `json:"step"`
	Operation string                `json:"operation"`
	Data      json.RawMessage       `json:"data"`
	Errors    []servertest.GQLError `json:"errors"`
}

// TestFrontendClient runs a web frontend's profile queries through
// graphql-request on Node (testdata/frontend/client.mjs) against the server,
// on the real MariaDB and Redis when HEADLINE_TEST_* name them, and checks
// every answer the client got and what each request cost the server.
func TestFrontendClient(t *testing.T) {
	node := servertest.NeedProgram(t, "node")
	servertest.NeedNodeModules(t, frontendDir)

	s := newTestServer(t)
	first := storetest.IDs(t, 101)
	reader := servertest.SeqUsers(first, 1)
	page1, page2 := servertest.SeqUsers(first+1, 50), servertest.SeqUsers(first+51, 50)
	s.AddUsers(t, append(append(reader, page1...), page2...)...)
	rec := &costRecorder{s: s}
	hs := httptest.NewServer(rec)
	t.Cleanup(hs.Close)

	steps, out, stderr := runClient(t, node, hs.URL, reader[0].ID, page1, page2)
	t.Logf("node client.mjs: %d requests (Node's start included)", len(rec.costs))
	wants := frontendWants(reader[0], page1, page2)
	if len(steps) != len(wants) || len(rec.costs) != len(wants) {
		t.Fatalf("the client printed %d answers and the server saw %d requests, want %d each\nstdout:\n%s\nstderr:\n%s",
			len(steps), len(rec.costs), len(wants), out, stderr)
	}
	for i, w := range wants {
		got, cost := steps[i], rec.costs[i]
		t.Run(w.step, func(t *testing.T) { w.check(t, i, got, cost) })
	}
}

// runClient runs client.mjs against the server at url as user reader, with
// the feed's two pages, and returns the steps it printed, and its output.
func runClient(t *testing.T, node, url string, reader int64, page1, page2 []headline.User) (steps []clientStep, stdout, stderr string) {
	t.Helper()
	ids := func(us []headline.User) []string {
		out := make([]string, len(us))
		for i, u := range us {
			out[i] = fmt.Sprint(u.ID)
		}
		return out
	}
	pages, _ := json.Marshal([][]string{ids(page1), ids(page2)})

	return runNode[clientStep](t, node, frontendDir, "client.mjs", time.Minute,
		"HEADLINE_URL="+url+"/graphql",
		"HEADLINE_TOKEN="+mustMint(t, reader),
		"FEED_PAGES="+string(pages),
	)
}

// unpinned is a count a step does not pin.
const unpinned = -1

// frontendWant is what one step of client.mjs must get, and cost the server.
type frontendWant struct {
	step      string
	operation string
	data      any
	code      string // extensions.code of the one error, "" for none
	// Redis round trips, MGETs and SELECTs the request cost the server.
	roundTrips, mgets, selects int
}

// frontendWants are client.mjs's steps, for the reader and the feed's pages.
func frontendWants(reader headline.User, page1, page2 []headline.User) []frontendWant {
	card := func(u headline.User) servertest.User {
		return servertest.User{ID: fmt.Sprint(u.ID), Name: u.Name, Photo: u.Photo, Intro: u.Intro, Certi: u.Certi}
	}
	cards := func(us []headline.User) []servertest.User {
		out := make([]servertest.User, len(us))
		for i, u := range us {
			out[i] = card(u)
		}
		return out
	}
	aliased := func(us []headline.User) map[string]servertest.User {
		out := make(map[string]servertest.User, len(us))
		for i, u := range us {
			out[fmt.Sprintf("a%d", i)] = card(u)
		}
		return out
	}
	return []frontendWant{
		{"me", "Me", map[string]any{"me": card(reader)}, "", unpinned, 1, 1},
		{"me without a token", "Me", map[string]any{"me": nil}, "UNAUTHENTICATED", 0, 0, 0},
		{"feed page 1, users(ids:), cold", "FeedAuthors", map[string]any{"users": cards(page1)}, "", unpinned, 1, 1},
		{"feed page 1, users(ids:), warm", "FeedAuthors", map[string]any{"users": cards(page1)}, "", 1, 1, 0},
		{"feed page 2, aliased user(id:), cold", "FeedAuthorsAliased", aliased(page2), "", unpinned, 1, 1},
		{"feed page 2, aliased user(id:), warm", "FeedAuthorsAliased", aliased(page2), "", 1, 1, 0},
		{"me, warm", "Me", map[string]any{"me": card(reader)}, "", 1, 1, 0},
	}
}

// check compares the i-th step the client printed, and what it cost, with w.
func (w frontendWant) check(t *testing.T, i int, got clientStep, cost requestCost) {
	if got.Step != w.step || cost.operation != w.operation || cost.status != http.StatusOK {
		t.Fatalf("request %d: client step %q, server saw operation %q with status %d; want %q, %q, 200",
			i, got.Step, cost.operation, cost.status, w.step, w.operation)
	}
	if !sameJSON(t, got.Data, w.data) {
		wantJSON, _ := json.Marshal(w.data)
		t.Errorf("data:\n got  %s\n want %s", got.Data, wantJSON)
	}
	var codes, wantCodes []string
	for _, e := range got.Errors {
		c, _ := e.Extensions["code"].(string)
		codes = append(codes, c)
	}
	if w.code != "" {
		wantCodes = []string{w.code}
	}
	if !reflect.DeepEqual(codes, wantCodes) {
		t.Errorf("error codes %q, want %q", codes, wantCodes)
	}
	t.Logf("%s: %d Redis round trips, %d MGET, %d SELECT", w.operation, cost.roundTrips, cost.mgets, cost.selects)
	if w.roundTrips != unpinned && cost.roundTrips != w.roundTrips {
		t.Errorf("%d Redis round trips, want %d", cost.roundTrips, w.roundTrips)
	}
	if cost.mgets != w.mgets || cost.selects != w.selects {
		t.Errorf("%d MGET and %d SELECT, want %d and %d", cost.mgets, cost.selects, w.mgets, w.selects)
	}
}

// sameJSON reports whether raw decodes to the same value as want encodes to.
func sameJSON(t *testing.T, raw json.RawMessage, want any) bool {
	t.Helper()
	wantRaw, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("data %s: %v", raw, err)
	}
	if err := json.Unmarshal(wantRaw, &w); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(g, w)
}
