package main

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestSlowHeadersAreCutOff: a client that trickles its headers (slowloris)
// cannot hold a connection past HTTP_READ_HEADER_TIMEOUT.
func TestSlowHeadersAreCutOff(t *testing.T) {
	addr, _, _ := startEmbedded(t, "-embedded-demo-users", "1", "-http-read-header-timeout", "300ms")

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	// Keep trickling a header byte every 100ms; the server must still hang
	// up once the header deadline has passed.
	closed := make(chan time.Duration, 1)
	go func() {
		buf := make([]byte, 512)
		for {
			if _, err := conn.Read(buf); err != nil {
				closed <- time.Since(start)
				return
			}
		}
	}()
	for i := 0; ; i++ {
		select {
		case d := <-closed:
			if d > 3*time.Second {
				t.Errorf("connection held %v, want it cut soon after 300ms", d)
			}
			return
		case <-time.After(100 * time.Millisecond):
			if _, err := io.WriteString(conn, "X"); err != nil {
				return // the server closed it: as wanted
			}
			if i > 50 {
				t.Fatal("the server kept a trickling connection open for 5s")
			}
		}
	}
}
