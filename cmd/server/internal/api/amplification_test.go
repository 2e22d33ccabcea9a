package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/headline/headline/cmd/server/internal/servertest"
)

// maxErrorAnswer is "a few KiB": what an error answer may weigh, whatever
// the request quoted. Today's answers to the requests below are at most
// about 2.5 KiB; without the excerpts they were up to 6 MiB.
const maxErrorAnswer = 4 << 10

// TestErrorAnswersAreSmall: requests of about 1 MiB that are malformed in
// different ways (broken JSON, a huge name, literal, variable or operation
// name, bad variables by GET and POST, quadratic validation errors) are
// answered with a GraphQL error carrying a code, never larger than a few KiB:
// an error quotes at most an excerpt of the request.
func TestErrorAnswersAreSmall(t *testing.T) {
	s := newTestServer(t)
	const mib = 1 << 20
	lt := strings.Repeat("<", mib-300)
	name := strings.Repeat("a", mib-300)
	key := strings.Repeat("k", mib-300)
	// Fits, escaped, in a URL under httptest's 1 MiB header limit.
	ltURL := lt[:300<<10]
	conflicts := make([]string, 50)
	for i := range conflicts {
		conflicts[i] = fmt.Sprintf(`a: user(id: \"%d\") { id }`, i+1)
	}
	query := func(q string) string { return `{"query":"` + q + `"}` }

	for _, tc := range []struct {
		name, method, body, rawQuery string
	}{
		{"JSON broken after 1 MiB of <", "POST", `{"query":"` + lt, ""},
		{"JSON with a 1 MiB key broken at its end", "POST", `{"` + key, ""},
		{"a 1 MiB string literal as an id", "POST", query(`{ user(id: \"` + lt + `\") { id } }`), ""},
		{"a 1 MiB string literal in a list where an id is wanted", "POST", query(`{ user(id: [\"` + lt + `\"]) { id } }`), ""},
		{"a 1 MiB string literal never closed", "POST", query(`{ user(id: \"` + lt), ""},
		{"a 1 MiB unknown field name", "POST", query(`{ ` + name + ` }`), ""},
		{"a 1 MiB unknown argument name", "POST", query(`{ user(` + name + `: 1) { id } }`), ""},
		{"a 1 MiB unknown directive", "POST", query(`{ user(id: \"1\") @` + name + ` { id } }`), ""},
		{"a 1 MiB variable name", "POST", query(`query($` + name + `: ID!) { user(id: \"1\") { id } }`), ""},
		{"a 1 MiB operation name not in the document", "POST", `{"query":"{ __typename }","operationName":"` + name + `"}`, ""},
		{"a 1 MiB input field name in variables (POST)", "POST",
			`{"query":"mutation($in: UpdateMeInput!) { updateMe(input: $in) { id } }","variables":{"in":{"` + key + `":1}}}`, ""},
		{"a 1 MiB string where an input object is wanted (POST)", "POST",
			`{"query":"mutation($in: UpdateMeInput!) { updateMe(input: $in) { id } }","variables":{"in":"` + lt + `"}}`, ""},
		{"variables that are not JSON (GET)", "GET", "",
			"query=" + url.QueryEscape(`query($id: ID!) { user(id: $id) { id } }`) + "&variables=" + url.QueryEscape(`{"id":"`+ltURL)},
		{"variables that are not an object (GET)", "GET", "",
			"query=" + url.QueryEscape(`query($id: ID!) { user(id: $id) { id } }`) + "&variables=" + url.QueryEscape(`["`+ltURL+`"]`)},
		{"extensions that are not JSON (GET)", "GET", "",
			"query=" + url.QueryEscape(`{ __typename }`) + "&extensions=" + url.QueryEscape(`{"`+ltURL)},
		{"a 500 KiB input field name in variables (GET)", "GET", "",
			"query=" + url.QueryEscape(`mutation($in: UpdateMeInput!) { updateMe(input: $in) { id } }`) +
				"&variables=" + url.QueryEscape(`{"in":{"`+key[:500<<10]+`":1}}`)},
		{"a 1 MiB persisted-query hash", "POST",
			`{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + name + `"}}}`, ""},
		{"1,225 conflicting fields (50 aliases a, each pair an error)", "POST", query(`{ ` + strings.Join(conflicts, " ") + ` }`), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req *http.Request
			if tc.method == "GET" {
				req, _ = http.NewRequest(http.MethodGet, s.URL+"/graphql?"+tc.rawQuery, nil)
			} else {
				req, _ = http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader(tc.body))
				req.Header.Set("Content-Type", "application/json")
			}
			status, _, body := servertest.RawResponse(t, req)
			t.Logf("%d bytes sent, answer %d, %d bytes", len(tc.body)+len(tc.rawQuery), status, len(body))
			if len(body) > maxErrorAnswer {
				t.Errorf("the answer is %d bytes, want at most %d: %.300s…", len(body), maxErrorAnswer, body)
			}
			var r struct {
				Data   json.RawMessage       `json:"data"`
				Errors []servertest.GQLError `json:"errors"`
			}
			if err := json.Unmarshal([]byte(body), &r); err != nil {
				t.Fatalf("the answer is not JSON: %v: %.300s", err, body)
			}
			if len(r.Errors) == 0 {
				t.Fatalf("no errors: %.300s", body)
			}
			for _, e := range r.Errors {
				if code, _ := e.Extensions["code"].(string); code == "" || e.Message == "" {
					t.Errorf("an error without a message or a code: %.300s", body)
				}
			}
		})
	}
}
