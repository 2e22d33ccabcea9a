package api

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// heldServer serves limitBody and limitQueryString over a budget of size
// bytes around a handler that reads the body and then stays in until the
// test lets it go, so the test knows which requests hold bytes.
type heldServer struct {
	URL     string
	entered chan string // the X-Name of each request the handler got
	leave   chan struct{}
}

func newHeldServer(t *testing.T, maxBody, size int64, wait time.Duration) *heldServer {
	t.Helper()
	h := &heldServer{entered: make(chan string, 16), leave: make(chan struct{})}
	f := newInFlight(size, wait)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h.entered <- r.Header.Get("X-Name")
		<-h.leave
	})
	mux := http.NewServeMux()
	mux.Handle("POST /", limitBody(maxBody, f)(inner))
	mux.Handle("GET /", f.limitQueryString(inner))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(h.leave) })
	h.URL = srv.URL
	return h
}

// start sends a request in the background; its status arrives on the
// returned channel.
func (h *heldServer) start(t *testing.T, name, method, query string, body io.Reader, size int64) chan int {
	t.Helper()
	req, err := http.NewRequest(method, h.URL+"/?"+query, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("X-Name", name)
	status := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			status <- -1
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	return status
}

// waitEntered waits for the named request to reach the handler.
func (h *heldServer) waitEntered(t *testing.T, name string) {
	t.Helper()
	select {
	case got := <-h.entered:
		if got != name {
			t.Fatalf("%s reached the handler, want %s", got, name)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not reach the handler in 10s", name)
	}
}

// notEntered checks that no request reaches the handler for a while: a
// request that should wait has not been let in.
func (h *heldServer) notEntered(t *testing.T, why string) {
	t.Helper()
	select {
	case got := <-h.entered:
		t.Fatalf("%s reached the handler: %s", got, why)
	case <-time.After(300 * time.Millisecond):
	}
}

func body(n int) io.Reader { return strings.NewReader(strings.Repeat("x", n)) }

// TestRequestBytesInFlight: what requests in flight carry, as
// requestWeight charges it, stays within REQUEST_BYTES_IN_FLIGHT; a request
// over it waits its turn, and is answered 503 when its wait runs out.
func TestRequestBytesInFlight(t *testing.T) {
	// Room for a body of 4,000 bytes and one of 1,000 (so not two of 4,000,
	// nor 4,000 and a GET of 3,000).
	budget := requestWeight(4000) + requestWeight(1000)
	t.Run("a body over the budget waits until one in flight is answered", func(t *testing.T) {
		h := newHeldServer(t, 4000, budget, 10*time.Second)
		first := h.start(t, "first", "POST", "", body(4000), 4000)
		h.waitEntered(t, "first")
		second := h.start(t, "second", "POST", "", body(4000), 4000)
		h.notEntered(t, "two bodies of 4,000 bytes are over the budget")
		h.leave <- struct{}{}
		h.waitEntered(t, "second")
		h.leave <- struct{}{}
		if a, b := <-first, <-second; a != http.StatusOK || b != http.StatusOK {
			t.Errorf("statuses %d, %d; want both 200", a, b)
		}
	})
	t.Run("small requests run beside a big one", func(t *testing.T) {
		h := newHeldServer(t, 4000, budget, 10*time.Second)
		h.start(t, "big", "POST", "", body(4000), 4000)
		h.waitEntered(t, "big")
		h.start(t, "small", "POST", "", body(500), 500)
		h.waitEntered(t, "small")
		h.start(t, "get", "GET", "query="+strings.Repeat("x", 300), nil, 0)
		h.waitEntered(t, "get")
	})
	t.Run("a GET's query string counts", func(t *testing.T) {
		h := newHeldServer(t, 4000, budget, 10*time.Second)
		h.start(t, "big", "POST", "", body(4000), 4000)
		h.waitEntered(t, "big")
		h.start(t, "get", "GET", "query="+strings.Repeat("x", 3000), nil, 0)
		h.notEntered(t, "a body of 4,000 bytes and a query string of 3,000 are over the budget")
	})
	t.Run("a chunked body, once read, is charged only its size", func(t *testing.T) {
		h := newHeldServer(t, 4000, budget, 10*time.Second)
		h.start(t, "chunked", "POST", "", io.MultiReader(body(100)), -1)
		h.waitEntered(t, "chunked")
		h.start(t, "big", "POST", "", body(4000), 4000)
		h.waitEntered(t, "big")
	})
	t.Run("a request that waits too long is answered 503 with Retry-After", func(t *testing.T) {
		h := newHeldServer(t, 4000, budget, 100*time.Millisecond)
		h.start(t, "first", "POST", "", body(4000), 4000)
		h.waitEntered(t, "first")
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/", body(4000))
		client := &http.Client{Timeout: 5 * time.Second}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("no answer: %v (let in beside the first?)", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		raw := string(b)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			!strings.Contains(raw, `"code":"SERVICE_UNAVAILABLE"`) {
			t.Errorf("%d, Retry-After %q: %s; want 503 with Retry-After and SERVICE_UNAVAILABLE", resp.StatusCode, resp.Header.Get("Retry-After"), raw)
		}
	})
}

// TestServerBoundsRequestBytesInFlight: through NewHandler, a POST whose
// body is still arriving holds its bytes, so another that does not fit
// beside it waits, and is refused once HTTP_READ_TIMEOUT has passed.
func TestServerBoundsRequestBytesInFlight(t *testing.T) {
	s := newTestServer(t, func(c *testConfig) {
		// Room for the held body of 4,000 bytes and a little more.
		c.API.MaxBodyBytes, c.API.InFlightBytes, c.API.InFlightWait = 4096, requestWeight(4000)+100, 200*time.Millisecond
	})
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// 4,000 bytes announced, 10 sent: the server holds 4,000 while it waits
	// for the rest.
	fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{\"query\":")
	// Until the server has read the first request's headers, a second one
	// may still get in: try a few times. Each is charged more than 100.
	for try := range 50 {
		r := s.Post(t, `{ __typename }`, map[string]any{"pad": strings.Repeat("x", 200)})
		if r.Status == http.StatusServiceUnavailable {
			if code := r.Errors[0].Extensions["code"]; code != codeBusy {
				t.Errorf("503 with code %v, want %s", code, codeBusy)
			}
			return
		}
		if r.Status != http.StatusOK || try == 49 {
			t.Fatalf("status %d beside a held 4,000-byte body, want 503: %s", r.Status, r.Raw)
		}
	}
}
