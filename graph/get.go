package graph

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// getTransport is gqlgen's GET, except that variables or extensions that
// are not a JSON object are answered as a POST body that is not JSON is:
// 400 with a BAD_USER_INPUT error, through the error presenter and the
// extensions. gqlgen's GET writes that answer itself, with no code.
type getTransport struct{ transport.GET }

var _ graphql.Transport = getTransport{}

func (t getTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	// A query string that does not parse is left to gqlgen's GET, whose
	// message quotes at most an escape of three bytes.
	if q, err := url.ParseQuery(r.URL.RawQuery); err == nil {
		for _, param := range []string{"variables", "extensions"} {
			if v := q.Get(param); v != "" && !jsonObject(v) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				resp := exec.DispatchError(r.Context(), gqlerror.List{gqlerror.Errorf("%s could not be decoded: want a JSON object", param)})
				_ = json.NewEncoder(w).Encode(resp)
				return
			}
		}
	}
	t.GET.Do(w, r, exec)
}

// jsonObject reports whether gqlgen's GET will decode v: a JSON object (or
// null), followed by anything, as its json.Decoder reads the first value.
func jsonObject(v string) bool {
	var m map[string]json.RawMessage
	return json.NewDecoder(strings.NewReader(v)).Decode(&m) == nil
}
