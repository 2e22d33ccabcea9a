package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
)

func TestTooManyJSONValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		json string
		max  int
		want bool
	}{
		{"a query and 100 ids", `{"query":"{ users(ids: $ids) { id } }","variables":{"ids":[` + strings.Repeat(`"1",`, 99) + `"1"]}}`, 200, false},
		{"commas and brackets inside strings do not count", `{"query":"` + strings.Repeat(`,[{`, 1000) + `"}`, 10, false},
		{"an escaped quote does not end a string", `{"a":"\",,,,,,,,,,,,,,,,"}`, 2, false},
		{"an escaped backslash before the closing quote", `{"a":"\\","b":[1,2,3]}`, 4, true},
		{"10,001 zeros are over 10,000", `{"a":[` + strings.Repeat("0,", 10000) + `0]}`, 10000, true},
		{"9,997 zeros are not", `{"a":[` + strings.Repeat("0,", 9996) + `0]}`, 10000, false},
		{"empty objects count", `[` + strings.Repeat("{},", 20) + `{}]`, 40, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tooManyJSONValues([]byte(tc.json), tc.max); got != tc.want {
				t.Errorf("tooManyJSONValues(…, %d) = %v, want %v", tc.max, got, tc.want)
			}
		})
	}
}

// TestRequestsWithTooManyJSONValuesAreRefused: a body, or a GET's
// variables or extensions, of more than 10,000 JSON values is refused with
// BAD_USER_INPUT before gqlgen decodes it (it would hold ~40–64 bytes of
// heap for each); a request of 100 ids is served.
func TestRequestsWithTooManyJSONValuesAreRefused(t *testing.T) {
	s := newTestServer(t)
	zeros := "[" + strings.Repeat("0,", maxJSONValues) + "0]"
	ids := "[" + strings.Repeat(`"1",`, 99) + `"1"]`
	const feed = `query($ids: [ID!]!) { users(ids: $ids) { id } }`
	for _, tc := range []struct {
		name, method, body, query string
		refused                   bool
	}{
		{"POST variables of 10,001 zeros", "POST", `{"query":"{ __typename }","variables":{"a":` + zeros + `}}`, "", true},
		{"POST extensions of 10,001 empty objects", "POST", `{"query":"{ __typename }","extensions":{"a":[` + strings.Repeat("{},", maxJSONValues) + `{}]}}`, "", true},
		{"GET variables of 10,001 zeros", "GET", "", "query=" + url.QueryEscape(`{ __typename }`) + "&variables=" + url.QueryEscape(`{"a":`+zeros+`}`), true},
		{"GET extensions of 10,001 zeros", "GET", "", "query=" + url.QueryEscape(`{ __typename }`) + "&extensions=" + url.QueryEscape(`{"a":`+zeros+`}`), true},
		{"POST of 100 ids", "POST", `{"query":"` + feed + `","variables":{"ids":` + ids + `}}`, "", false},
		{"GET of 100 ids", "GET", "", "query=" + url.QueryEscape(feed) + "&variables=" + url.QueryEscape(`{"ids":`+ids+`}`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req *http.Request
			if tc.method == "GET" {
				req, _ = http.NewRequest(http.MethodGet, s.URL+"/graphql?"+tc.query, nil)
			} else {
				req, _ = http.NewRequest(http.MethodPost, s.URL+"/graphql", strings.NewReader(tc.body))
				req.Header.Set("Content-Type", "application/json")
			}
			r := servertest.Do(t, req)
			refused := r.Status == http.StatusBadRequest && len(r.Errors) == 1 && r.Errors[0].Extensions["code"] == headline.ECodeBadInput
			if refused != tc.refused || (!tc.refused && (r.Status != http.StatusOK || len(r.Errors) > 0)) {
				t.Errorf("status %d: %.300s; want refused = %v", r.Status, r.Raw, tc.refused)
			}
		})
	}
}
