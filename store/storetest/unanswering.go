package storetest

import (
	"net"
	"sync"
	"testing"
)

// Unanswering is a TCP server that accepts connections and never writes a
// byte: a hung Redis, or a MySQL address where something else listens (the
// MySQL client waits for the server's greeting). It closes when the test
// ends.
type Unanswering struct {
	Addr  string // host:port
	mu    sync.Mutex
	conns []net.Conn
}

// StartUnanswering starts an Unanswering server on a free loopback port.
func StartUnanswering(t testing.TB) *Unanswering {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	u := &Unanswering{Addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.mu.Lock()
			u.conns = append(u.conns, c)
			u.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		u.mu.Lock()
		defer u.mu.Unlock()
		for _, c := range u.conns {
			_ = c.Close()
		}
	})
	return u
}

// Accepted is how many connections the server has accepted.
func (u *Unanswering) Accepted() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.conns)
}
