package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/storetest"
)

// federationDir holds the npm packages of TestGatewayFeed: @apollo/gateway,
// @apollo/subgraph, @apollo/server 4 (`npm ci` there, as .ci/run does).
const federationDir = "testdata/federation"

// article is one article of the articles subgraph gateway.mjs serves.
type article struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Author string `json:"author"` // a User reference's id
}

// feedArticles is a feed of 50 articles by authors: the first 48 by one
// author each, the 49th by the first's again (Apollo Gateway sends that
// reference twice), the 50th by an id with no user.
func feedArticles(authors []headline.User, unknown int64) []article {
	out := make([]article, 50)
	for i := range out {
		a := article{ID: fmt.Sprint(i + 1), Title: fmt.Sprintf("Article %d", i+1)}
		switch {
		case i < len(authors):
			a.Author = fmt.Sprint(authors[i].ID)
		case i == len(authors):
			a.Author = fmt.Sprint(authors[0].ID)
		default:
			a.Author = fmt.Sprint(unknown)
		}
		out[i] = a
	}
	return out
}

// gatewayStep is one line gateway.mjs printed: the gateway's answer.
type gatewayStep struct {
	Step   string          `json:"step"`
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

// TestGatewayFeed composes headline into a supergraph with a real Apollo
// Gateway (IntrospectAndCompose, beside an articles subgraph written with
// @apollo/subgraph), sends the gateway the feed query, and checks its
// answer and what it cost headline: one _entities request per feed query,
// carrying all 50 references, costing what users(ids:) of the same 50 ids
// costs: one MGET and one SELECT cold, one MGET (or none, from a local
// tier) warm.
func TestGatewayFeed(t *testing.T) {
	node := servertest.NeedProgram(t, "node")
	servertest.NeedNodeModules(t, federationDir)

	s := newTestServer(t)
	first := storetest.IDs(t, 49)
	authors := servertest.SeqUsers(first, 48)
	s.AddUsers(t, authors...)
	articles := feedArticles(authors, first+48)
	rec := &costRecorder{s: s}
	hs := httptest.NewServer(rec)
	t.Cleanup(hs.Close)

	steps := runGateway(t, node, hs.URL+"/graphql", articles)
	if len(steps) != 2 || len(rec.costs) != 3 {
		t.Fatalf("gateway.mjs printed %d answers and headline saw %d requests, want 2 answers and 3 requests "+
			"(_service when composing, then one _entities per feed query)", len(steps), len(rec.costs))
	}
	if q := requestQuery(t, rec.costs[0].body); !strings.Contains(q, "_service") {
		t.Errorf("headline's first request %q, want the gateway's _service { sdl }", q)
	}
	t.Logf("the gateway's query for the authors: %s", requestQuery(t, rec.costs[1].body))
	usersCosts := usersOfTheSameShape(t, s, hs.URL, rec)
	want := feedAnswer(articles, authors)
	for i, step := range steps {
		cost := rec.costs[i+1]
		t.Run(step.Step, func(t *testing.T) {
			checkFeedAnswer(t, step, want, len(articles)-1)
			reps := entitiesRepresentations(t, cost.body)
			t.Logf("_entities of %d representations: status %d, %d Redis round trips, %d MGET, %d SELECT",
				reps, cost.status, cost.roundTrips, cost.mgets, cost.selects)
			if reps != len(articles) {
				t.Errorf("headline's request for the feed had %d representations, want one _entities of %d", reps, len(articles))
			}
			wantSelects := 1
			if step.Step == "warm" {
				wantSelects = 0
			}
			// At most one MGET: none once a local tier holds the profiles.
			if cost.status != http.StatusOK || cost.mgets > 1 || cost.selects != wantSelects {
				t.Errorf("status %d, %d MGET, %d SELECT; want 200, at most 1 MGET, %d SELECT", cost.status, cost.mgets, cost.selects, wantSelects)
			}
			u := usersCosts[i]
			if cost.roundTrips != u.roundTrips || cost.mgets != u.mgets || cost.selects != u.selects {
				t.Errorf("%d Redis round trips, %d MGET, %d SELECT; users(ids:) of the same shape costs %d, %d, %d",
					cost.roundTrips, cost.mgets, cost.selects, u.roundTrips, u.mgets, u.selects)
			}
		})
	}
}

// usersOfTheSameShape asks users(ids:), cold then warm, for 50 ids of other
// users shaped as the feed's authors are (48 users, one of them twice, one
// id with no user), through rec, and returns what each request cost.
func usersOfTheSameShape(t *testing.T, s *testServer, url string, rec *costRecorder) []requestCost {
	t.Helper()
	first := storetest.IDs(t, 49)
	others := servertest.SeqUsers(first, 48)
	s.AddUsers(t, others...)
	var ids []string
	for _, a := range feedArticles(others, first+48) {
		ids = append(ids, a.Author)
	}
	n := len(rec.costs)
	for range 2 {
		r := servertest.Post(t, url, `query($ids: [ID!]!) { users(ids: $ids) { name photo } }`, map[string]any{"ids": ids})
		if len(r.Errors) > 0 {
			t.Fatalf("users(ids:): %s", r.Raw)
		}
	}
	costs := rec.costs[n:]
	for i, c := range costs {
		t.Logf("users(ids:) of 50 ids, %s: %d Redis round trips, %d MGET, %d SELECT", []string{"cold", "warm"}[i], c.roundTrips, c.mgets, c.selects)
	}
	return costs
}

// runGateway runs gateway.mjs against headline at url and returns what it
// printed.
func runGateway(t *testing.T, node, url string, articles []article) []gatewayStep {
	t.Helper()
	list, _ := json.Marshal(articles)
	steps, _, _ := runNode[gatewayStep](t, node, federationDir, "gateway.mjs", 2*time.Minute, "HEADLINE_URL="+url, "ARTICLES="+string(list))
	return steps
}

type feedAuthor struct {
	Name  string  `json:"name"`
	Photo *string `json:"photo"`
}

type feedItem struct {
	Title  string      `json:"title"`
	Author *feedAuthor `json:"author"`
}

// feedAnswer is the gateway's answer to the feed query: each article with
// its author's name and photo, null for the author with no user.
func feedAnswer(articles []article, authors []headline.User) map[string]any {
	byID := map[string]headline.User{}
	for _, u := range authors {
		byID[fmt.Sprint(u.ID)] = u
	}
	items := make([]feedItem, len(articles))
	for i, a := range articles {
		items[i].Title = a.Title
		if u, ok := byID[a.Author]; ok {
			items[i].Author = &feedAuthor{Name: u.Name, Photo: u.Photo}
		}
	}
	return map[string]any{"feed": items}
}

// checkFeedAnswer checks the gateway's answer: want's data, no errors. An
// author that is a null entity (no such user) is null in the data, and
// Apollo Gateway notes in extensions.valueCompletion that it could not
// complete the author's non-null name: that note, at unknown's article,
// and no other.
func checkFeedAnswer(t *testing.T, step gatewayStep, want map[string]any, unknown int) {
	t.Helper()
	var got struct {
		Data       json.RawMessage `json:"data"`
		Errors     []any           `json:"errors"`
		Extensions struct {
			ValueCompletion []struct {
				Path []any `json:"path"`
			} `json:"valueCompletion"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(step.Body, &got); err != nil {
		t.Fatalf("gateway's answer %s: %v", step.Body, err)
	}
	if step.Status != http.StatusOK || len(got.Errors) > 0 {
		t.Errorf("gateway answered %d with errors: %s", step.Status, step.Body)
	}
	if !sameJSON(t, got.Data, want) {
		wantJSON, _ := json.Marshal(want)
		t.Errorf("gateway's data:\n got  %s\n want %s", got.Data, wantJSON)
	}
	vc := got.Extensions.ValueCompletion
	if wantPath := fmt.Sprint([]any{"feed", unknown, "author", "name"}); len(vc) != 1 || fmt.Sprint(vc[0].Path) != wantPath {
		t.Errorf("extensions.valueCompletion %v, want one at %s: %s", vc, wantPath, step.Body)
	}
}

// requestQuery is the query of a GraphQL request body.
func requestQuery(t *testing.T, body []byte) string {
	t.Helper()
	var req struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("request %s: %v", body, err)
	}
	return req.Query
}

// entitiesRepresentations is how many representations an _entities
// request carries; 0 for another request.
func entitiesRepresentations(t *testing.T, body []byte) int {
	t.Helper()
	var req struct {
		Query     string `json:"query"`
		Variables struct {
			Representations []json.RawMessage `json:"representations"`
		} `json:"variables"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("request %s: %v", body, err)
	}
	if !strings.Contains(req.Query, "_entities") {
		return 0
	}
	return len(req.Variables.Representations)
}
