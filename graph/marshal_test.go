package graph

import (
	"encoding/json"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// TestMarshalResponseIsJSONMarshal: the framed answer and json.Marshal's
// are the same bytes, whichever way marshalResponse takes.
func TestMarshalResponseIsJSONMarshal(t *testing.T) {
	yes := true
	for _, tc := range []struct {
		name   string
		resp   graphql.Response
		framed bool // the fast way
	}{
		{"users", graphql.Response{Data: json.RawMessage(`{"users":[{"id":"1","name":"bob","photo":null},{"id":"2","name":"ünï 中文 🎉","photo":"http://x/p.png"}]}`)}, true},
		{"a quote and a backslash", graphql.Response{Data: json.RawMessage(`{"user":{"name":"a\"b\\c\u0001"}}`)}, true},
		{"null data", graphql.Response{}, false},
		{"<, escaped for HTML", graphql.Response{Data: json.RawMessage(`{"user":{"name":"<script>"}}`)}, false},
		{"&", graphql.Response{Data: json.RawMessage(`{"user":{"name":"a&b"}}`)}, false},
		{">", graphql.Response{Data: json.RawMessage(`{"user":{"name":"a>b"}}`)}, false},
		{"U+2028", graphql.Response{Data: json.RawMessage("{\"user\":{\"name\":\"a\u2028b\"}}")}, false},
		{"U+2029", graphql.Response{Data: json.RawMessage("{\"user\":{\"name\":\"a\u2029b\"}}")}, false},
		{"errors", graphql.Response{Data: json.RawMessage(`{"user":null}`), Errors: gqlerror.List{{Message: "no"}}}, false},
		{"extensions", graphql.Response{Data: json.RawMessage(`{"user":null}`), Extensions: map[string]any{"x": 1}}, false},
		{"hasNext", graphql.Response{Data: json.RawMessage(`{"user":null}`), HasNext: &yes}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(&tc.resp)
			if err != nil {
				t.Fatal(err)
			}
			if got := marshalResponse(&tc.resp); string(got) != string(want) {
				t.Errorf("marshalResponse:\n got %s\nwant %s", got, want)
			}
			if framed := tc.resp.Data != nil && len(tc.resp.Errors) == 0 && len(tc.resp.Extensions) == 0 &&
				tc.resp.HasNext == nil && !needsEscape(tc.resp.Data); framed != tc.framed {
				t.Errorf("framed as it is: %v, want %v", framed, tc.framed)
			}
		})
	}
}
