package api

import (
	"context"
	"math"
	"net/http"
	"time"

	"golang.org/x/sync/semaphore"
)

// codeBusy is the extensions.code of a request refused because the server
// holds as many request bytes as REQUEST_BYTES_IN_FLIGHT allows.
const codeBusy = "SERVICE_UNAVAILABLE"

// inFlight bounds the memory GraphQL requests in flight take for what
// they carry: the POST bodies, which limitBody reads whole, and the GET
// query strings, each charged requestWeight. It is what makes the server's
// memory boundable at all: without it, each request in flight could hold a
// MAX_BODY_BYTES body, and gqlgen's copy and decoding of it, however many
// there are.
//
// A request over the budget waits for its turn (first come, first served,
// so a big body is not starved by small ones) rather than being refused at
// once: a burst of big bodies is slowed down, not failed. While it waits
// its body stays unread in the socket, so waiting costs no heap. It waits
// at most wait (HTTP_READ_TIMEOUT, the time it had to send its body
// anyway), then is answered 503 with Retry-After.
type inFlight struct {
	sem  *semaphore.Weighted
	size int64
	wait time.Duration // 0: as long as the request's context lasts
}

// newInFlight returns a budget of size bytes; 0: no bound.
func newInFlight(size int64, wait time.Duration) *inFlight {
	if size <= 0 {
		size = math.MaxInt64
	}
	return &inFlight{sem: semaphore.NewWeighted(size), size: size, wait: wait}
}

// valueCost is what gqlgen's decoding of one JSON value (an array element,
// an object member) into interfaces, maps and slices costs in heap, at
// most: 42 bytes measured for each 0 of [0,0,…], 60 for each {} of
// [{},{},…].
const valueCost = 64

// requestWeight is what a request carrying n bytes of JSON is charged:
// its bytes, and the most its values can cost decoded (a value takes at
// least two bytes, "0,", and limitBody refuses more than maxJSONValues).
// So a small request is charged for the values it could decode into, and
// 1 MiB about 1.6 MiB.
func requestWeight(n int64) int64 {
	return n + valueCost*min(n/2, maxJSONValues)
}

// acquire waits until n bytes may be held (at most the whole budget, so a
// request larger than it runs alone) and returns how many it holds, or
// false when the wait ran out.
func (f *inFlight) acquire(ctx context.Context, n int64) (int64, bool) {
	n = min(n, f.size)
	if f.wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.wait)
		defer cancel()
	}
	if f.sem.Acquire(ctx, n) != nil {
		return 0, false
	}
	return n, true
}

func (f *inFlight) release(n int64) {
	if n > 0 {
		f.sem.Release(n)
	}
}

// limitQueryString holds a GET's query string, which gqlgen decodes, within
// the budget for as long as the request runs.
func (f *inFlight) limitQueryString(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held, ok := f.acquire(r.Context(), requestWeight(int64(len(r.URL.RawQuery))))
		if !ok {
			busy(w)
			return
		}
		defer f.release(held)
		next.ServeHTTP(w, r)
	})
}

func busy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	writeGraphQLError(w, http.StatusServiceUnavailable, "the server is busy; retry later", codeBusy)
}
