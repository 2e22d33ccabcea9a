package api

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/storetest"
)

// apolloExchange is one HTTP request apollo.mjs made, as it saw the answer.
type apolloExchange struct {
	Method       string `json:"method"`
	Status       int    `json:"status"`
	CacheControl string `json:"cacheControl"`
	ETag         string `json:"etag"`
	Vary         string `json:"vary"`
	BodyBytes    int    `json:"bodyBytes"`
}

// apolloStep is one line apollo.mjs printed.
type apolloStep struct {
	Step      string           `json:"step"`
	Data      json.RawMessage  `json:"data"`
	Errors    json.RawMessage  `json:"errors"`
	Exchanges []apolloExchange `json:"exchanges"`
}

// The Cache-Control values of the steps.
const (
	ccRefusal = "private, no-cache, must-revalidate" // Apollo Server's, on PersistedQueryNotFound
	ccPublic  = "max-age=60, public"                 // CACHE_CONTROL_MAX_AGE's default
	ccNone    = "no-store"
)

// TestApolloClientHashedQueriesByGET runs Apollo Client 4 with its
// persisted-query link and useGETForHashedQueries (testdata/frontend/
// apollo.mjs) against the server: a query's hash unknown by GET, its
// registration by POST, then GETs by hash whose answers a CDN may keep —
// users(ids:) public with an ETag that revalidates to 304, me no-store.
func TestApolloClientHashedQueriesByGET(t *testing.T) {
	node := servertest.NeedProgram(t, "node")
	servertest.NeedNodeModules(t, frontendDir)
	s := newTestServer(t)
	first := storetest.IDs(t, 4)
	users := servertest.SeqUsers(first, 4)
	s.AddUsers(t, users...)
	ids, _ := json.Marshal([]string{fmt.Sprint(first + 1), fmt.Sprint(first + 2), fmt.Sprint(first + 3)})

	steps, out := runApollo(t, node, s.URL, mustMint(t, first), string(ids))
	feed := fmt.Sprintf(`{"users":[%s,%s,%s]}`, userJSON(users[1]), userJSON(users[2]), userJSON(users[3]))
	me := fmt.Sprintf(`{"me":%s}`, userJSON(users[0]))
	wants := []struct {
		step      string
		data      string
		exchanges []apolloExchange
	}{
		{"feed, first time", feed, []apolloExchange{{Method: "GET", Status: 200, CacheControl: ccRefusal, Vary: "Origin"}, {Method: "POST", Status: 200, CacheControl: ccNone, Vary: "Origin"}}},
		{"feed, hashed by GET", feed, []apolloExchange{{Method: "GET", Status: 200, CacheControl: ccPublic, ETag: "set", Vary: "Origin, Accept"}}},
		{"feed, revalidated with If-None-Match", "null", []apolloExchange{{Method: "GET", Status: 304, CacheControl: ccPublic, ETag: "set", Vary: "Origin, Accept"}}},
		{"me, first time", me, []apolloExchange{{Method: "GET", Status: 200, CacheControl: ccRefusal, Vary: "Origin"}, {Method: "POST", Status: 200, CacheControl: ccNone, Vary: "Origin"}}},
		{"me, hashed by GET", me, []apolloExchange{{Method: "GET", Status: 200, CacheControl: ccNone, Vary: "Origin"}}},
	}
	if len(steps) != len(wants) {
		t.Fatalf("apollo.mjs printed %d steps, want %d:\n%s", len(steps), len(wants), out)
	}
	var etag string
	for i, w := range wants {
		got := steps[i]
		t.Logf("%s: %+v", got.Step, got.Exchanges)
		if got.Step != w.step || string(got.Data) != w.data || (len(got.Errors) > 0 && string(got.Errors) != "null") {
			t.Errorf("step %d: %q data %s errors %s; want %q data %s", i, got.Step, got.Data, got.Errors, w.step, w.data)
		}
		if len(got.Exchanges) != len(w.exchanges) {
			t.Errorf("%s: exchanges %+v, want %+v", w.step, got.Exchanges, w.exchanges)
			continue
		}
		for j, x := range got.Exchanges {
			want := w.exchanges[j]
			if want.ETag == "set" {
				if etag == "" {
					etag = x.ETag
				}
				want.ETag = etag // the revalidation's is the answer's
			}
			want.BodyBytes = x.BodyBytes
			if x.Status == 304 && x.BodyBytes != 0 {
				t.Errorf("%s: 304 with %d bytes of body", w.step, x.BodyBytes)
			}
			if x != want {
				t.Errorf("%s, exchange %d:\n got  %+v\n want %+v", w.step, j, x, want)
			}
		}
	}
	if etag == "" {
		t.Errorf("the GET by hash of users(ids:) came without an ETag")
	}
}

// userJSON is u as the AuthorCard fragment selects it, with the
// __typename Apollo Client's cache adds to every selection.
func userJSON(u headline.User) string {
	b, _ := json.Marshal(struct {
		servertest.User
		Typename string `json:"__typename"`
	}{servertest.User{ID: fmt.Sprint(u.ID), Name: u.Name, Photo: u.Photo, Intro: u.Intro, Certi: u.Certi}, "User"})
	return string(b)
}

// runApollo runs apollo.mjs against the server at base as the holder of
// token, with the feed's ids, and returns the steps it printed.
func runApollo(t *testing.T, node, base, token, ids string) ([]apolloStep, string) {
	t.Helper()
	steps, out, stderr := runNode[apolloStep](t, node, frontendDir, "apollo.mjs", time.Minute,
		"HEADLINE_URL="+base+"/graphql", "HEADLINE_TOKEN="+token, "FEED_IDS="+ids)
	return steps, out + stderr
}
