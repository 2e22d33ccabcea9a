package api

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/headline/headline"
)

// maxJSONValues bounds the JSON values (array elements, object members)
// of a POST body and of a GET's variables and extensions. gqlgen decodes
// all of them into maps and slices of interfaces before it validates
// anything, at 40–64 bytes of heap each: a 1 MiB body of [0,0,…] held
// ~22 MiB while it was decoded, [{},{},…] ~20 MiB. Bounded, a body costs
// at most ~640 KB more than its bytes. Requests of this schema carry a few
// hundred values at most: users(ids:) takes MAX_IDS (100) ids, updateMe's
// input three fields.
const maxJSONValues = 10_000

// tooManyJSONValues reports whether the JSON text b has more than max
// values, counting, outside strings, each '[' and '{' and each ','. It
// does not check that b is JSON; the decoder that follows does.
func tooManyJSONValues(b []byte, max int) bool {
	n := 0
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{', ',':
			if n++; n > max {
				return true
			}
		}
	}
	return false
}

// limitGETValues refuses a GET whose variables or extensions have more
// than maxJSONValues values, as limitBody does a POST body.
func limitGETValues(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Each value counted takes a byte of the query string at least: a
		// short one needs no parse. One that does not parse is the
		// transport's to answer.
		if len(r.URL.RawQuery) <= maxJSONValues {
			next.ServeHTTP(w, r)
			return
		}
		if q, err := url.ParseQuery(r.URL.RawQuery); err == nil {
			for _, param := range []string{"variables", "extensions"} {
				if tooManyJSONValues([]byte(q.Get(param)), maxJSONValues) {
					tooManyValues(w)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func tooManyValues(w http.ResponseWriter) {
	writeGraphQLError(w, http.StatusBadRequest,
		fmt.Sprintf("the request has more than %d JSON values", maxJSONValues), headline.ECodeBadInput)
}
