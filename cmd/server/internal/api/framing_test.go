package api

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestConnectionFraming: on a raw socket, a request that carries both
// Content-Length and Transfer-Encoding is answered and its connection closed
// (RFC 9112 §6.1), while ordinary requests keep theirs.
func TestConnectionFraming(t *testing.T) {
	s := newTestServer(t)
	addr := strings.TrimPrefix(s.URL, "http://")
	const query = `{"query":"{ __typename }"}`
	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(query), query)

	for _, tc := range []struct {
		name    string
		request string
		closed  bool
	}{
		{"Content-Length and Transfer-Encoding: answered, then closed",
			"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
				fmt.Sprintf("Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n", len(query)) + chunked, true},
		{"Transfer-Encoding alone: answered, then closed",
			"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked, true},
		{"Content-Length alone: kept open",
			"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
				fmt.Sprintf("Content-Length: %d\r\n\r\n", len(query)) + query, false},
		{"GET: kept open", "GET /graphql?query=%7B__typename%7D HTTP/1.1\r\nHost: x\r\n\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			// Twice on one connection: the second request is answered only
			// if the first left the connection open.
			for i := range 2 {
				if _, err := io.WriteString(conn, tc.request); err != nil {
					if tc.closed && i == 1 {
						return
					}
					t.Fatalf("request %d: %v", i+1, err)
				}
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				resp, err := http.ReadResponse(br, nil)
				if tc.closed && i == 1 {
					if err == nil {
						resp.Body.Close()
						t.Fatalf("a second request on the connection was answered (%s): the connection was kept open", resp.Status)
					}
					if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isConnReset(err) {
						t.Fatalf("after the answer: %v, want the connection closed (EOF)", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("response %d: %v", i+1, err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"__typename":"Query"`) {
					t.Fatalf("response %d: %s %v: %s", i+1, resp.Status, err, body)
				}
				if got := resp.Close; got != tc.closed {
					t.Errorf("response %d says Connection: close = %v, want %v", i+1, got, tc.closed)
				}
			}
		})
	}
}

// isConnReset reports a connection the server closed (reset) while we read
// from it; a read that timed out is not one.
func isConnReset(err error) bool {
	op, ok := errors.AsType[*net.OpError](err)
	return ok && !op.Timeout()
}
