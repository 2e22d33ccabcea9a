package api

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/headline/headline/cmd/server/internal/servertest"
)

// auditLine is one line audit.mjs printed: an audit's result, or the summary.
type auditLine struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Status      string `json:"status"`
	Reason      string `json:"reason"`
	HTTPStatus  int    `json:"httpStatus"`
	ContentType string `json:"contentType"`
	Body        string `json:"body"`
	Summary     string `json:"summary"`
}

// TestGraphQLOverHTTPAudit runs graphql-http's audit of the GraphQL-over-HTTP
// spec (serverAudits, testdata/frontend/audit.mjs) against the whole server
// and fails on any error (a MUST not met) or warning (a SHOULD not met). A
// notice (a MAY) is logged.
func TestGraphQLOverHTTPAudit(t *testing.T) {
	node := servertest.NeedProgram(t, "node")
	servertest.NeedNodeModules(t, frontendDir)
	s := newTestServer(t)

	lines, out, _ := runNode[auditLine](t, node, frontendDir, "audit.mjs", time.Minute, "HEADLINE_URL="+s.URL+"/graphql")
	var results []auditLine
	summary := ""
	for _, l := range lines {
		if l.Summary != "" {
			summary = l.Summary
			continue
		}
		results = append(results, l)
	}
	if summary == "" || len(results) == 0 {
		t.Fatalf("audit.mjs printed no results or no summary:\n%s", out)
	}
	t.Logf("graphql-http serverAudits: %s", summary)
	for _, r := range results {
		switch r.Status {
		case "ok":
		case "notice":
			t.Logf("notice %s %s: %s", r.ID, r.Name, r.Reason)
		default:
			t.Errorf("%s %s %s: %s\n  got %d %s: %s", r.Status, r.ID, r.Name, r.Reason, r.HTTPStatus, r.ContentType, r.Body)
		}
	}
}

// TestGraphQLOverHTTPChoices checks what the audit does not, or leaves to
// the server: the media type chosen by q-value, 406 when Accept allows
// neither, 405 for a mutation by GET, 400 for a request with no query, and
// the persisted-query refusal answered as Apollo clients expect (200 with
// "data": null) under either media type.
func TestGraphQLOverHTTPChoices(t *testing.T) {
	s := newTestServer(t)
	const gqlResp = "application/graphql-response+json"
	for _, tc := range []struct {
		name, method, query, accept string
		ext                         map[string]any
		wantStatus                  int
		wantType                    string
		wantData                    string // the data entry's JSON; "" for none
	}{
		{"Apollo Client's Accept", "POST", `{ __typename }`, "application/graphql-response+json,application/json;q=0.9", nil, 200, gqlResp, `{"__typename":"Query"}`},
		{"application/json preferred by q", "POST", `{ __typename }`, "application/graphql-response+json;q=0.5, application/json", nil, 200, "application/json", `{"__typename":"Query"}`},
		{"a browser's Accept: */*", "GET", `{ __typename }`, "text/html,application/xhtml+xml,*/*;q=0.8", nil, 200, "application/json", `{"__typename":"Query"}`},
		{"neither acceptable: 406", "POST", `{ __typename }`, "text/html", nil, 406, "application/json", ""},
		{"a mutation by GET: 405", "GET", `mutation { updateMe(input: {}) { id } }`, "", nil, 405, "application/json", ""},
		{"no query under application/json: 400", "POST", "", "application/json", nil, 400, "application/json", ""},
		{"a validation failure under application/json: 200, no data", "POST", `{ nope }`, "application/json", nil, 200, "application/json", ""},
		{"a validation failure under graphql-response+json: 400, no data", "POST", `{ nope }`, gqlResp, nil, 400, gqlResp, ""},
		{"a hash not the query's under application/json: 200, no data", "POST", `{ __typename }`, "application/json", apqExtensions(sha256Hex("{ nope }")), 200, "application/json", ""},
		{"a hash not the query's under graphql-response+json: 400, no data", "POST", `{ __typename }`, gqlResp, apqExtensions(sha256Hex("{ nope }")), 400, gqlResp, ""},
		{"PersistedQueryNotFound under graphql-response+json: 200, data null", "GET", "", gqlResp, apqExtensions(sha256Hex("{ nope }")), 200, gqlResp, "null"},
		{"PersistedQueryNotFound under application/json: 200, data null", "POST", "", "application/json", apqExtensions(sha256Hex("{ nope }")), 200, "application/json", "null"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := sendGraphQL(t, tc.method, s.URL, gqlParams{query: tc.query, ext: tc.ext}, "Accept", tc.accept)
			status, ctype, body := a.status, a.header.Get("Content-Type"), a.body
			var resp map[string]json.RawMessage
			if err := json.Unmarshal([]byte(body), &resp); err != nil {
				t.Fatalf("%d %s: not JSON: %v", status, body, err)
			}
			data, hasData := resp["data"]
			if status != tc.wantStatus || ctype != tc.wantType || hasData != (tc.wantData != "") || string(data) != tc.wantData {
				t.Errorf("%d %s %s; want %d %s with data %q", status, ctype, body, tc.wantStatus, tc.wantType, tc.wantData)
			}
		})
	}
}
