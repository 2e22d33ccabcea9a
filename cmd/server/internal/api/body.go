package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/headline/headline"
	"github.com/headline/headline/graph"
)

// limitBody refuses a request body over n bytes with 413 and a
// GraphQL-shaped error. The body is read here, whole, before the GraphQL
// handler runs: it is small by construction, and charged to the in-flight
// budget f until the request is answered (a body of unknown length as n
// bytes until it has been read). The handler gets it as a readBody, which
// the GraphQL transport takes as it is rather than copy it again.
func limitBody(n int64, f *inFlight) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				tooLarge(w, n)
				return
			}
			want := r.ContentLength
			if want < 0 {
				want = n
			}
			held, ok := f.acquire(r.Context(), requestWeight(want))
			if !ok {
				busy(w)
				return
			}
			defer func() { f.release(held) }()
			body, err := readWhole(w, r, n)
			if keep := min(held, requestWeight(int64(len(body)))); keep < held {
				f.release(held - keep)
				held = keep
			}
			if err != nil {
				if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
					tooLarge(w, n)
					return
				}
				writeGraphQLError(w, http.StatusBadRequest, "could not read the request body", headline.ECodeBadInput)
				return
			}
			if tooManyJSONValues(body, maxJSONValues) {
				tooManyValues(w)
				return
			}
			r.Body = readBody{Reader: bytes.NewReader(body), b: body}
			next.ServeHTTP(w, r)
		})
	}
}

// readBody is a request body read whole: a reader of it, and its Bytes.
type readBody struct {
	*bytes.Reader
	b []byte
}

func (b readBody) Bytes() []byte { return b.b }
func (readBody) Close() error    { return nil }

// readWhole reads r's body of at most n bytes. A body of known length is
// read into one buffer of that length, not the doublings of io.ReadAll
// (which allocate twice the body); a chunked one grows as it comes.
func readWhole(w http.ResponseWriter, r *http.Request, n int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, n)
	if r.ContentLength < 0 {
		return io.ReadAll(body)
	}
	buf := make([]byte, r.ContentLength)
	_, err := io.ReadFull(body, buf)
	return buf, err
}

func tooLarge(w http.ResponseWriter, n int64) {
	writeGraphQLError(w, http.StatusRequestEntityTooLarge,
		fmt.Sprintf("the request body is over %d bytes", n), headline.ECodeBadInput)
}

// writeGraphQLError answers outside gqlgen in the shape a GraphQL client
// reads: {"errors":[{"message":…,"extensions":{"code":…}}]}, which no cache
// may keep. Its message is cut as gqlgen's are, should it ever quote the
// request.
func writeGraphQLError(w http.ResponseWriter, status int, msg, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": graph.Excerpt(msg), "extensions": map[string]string{"code": code}}},
	})
}
