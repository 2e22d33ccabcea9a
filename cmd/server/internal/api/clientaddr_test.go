package api

import (
	"net/http/httptest"
	"testing"
)

func TestClientAddr(t *testing.T) {
	for _, tc := range []struct {
		name, header, remote string
		values               []string // of X-Forwarded-For
		want                 string   // "": none
	}{
		{"the TCP peer", "", "192.0.2.1:5000", nil, "192.0.2.1"},
		{"the TCP peer, IPv6", "", "[2001:db8::1]:5000", nil, "2001:db8::1"},
		{"the TCP peer, IPv4-mapped", "", "[::ffff:192.0.2.1]:5000", nil, "192.0.2.1"},
		{"a header not configured is not read", "", "192.0.2.1:5000", []string{"198.51.100.1"}, "192.0.2.1"},
		{"the header configured", "X-Forwarded-For", "192.0.2.1:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"its last address: the one the nearest proxy saw", "X-Forwarded-For", "192.0.2.1:5000", []string{"203.0.113.9, 198.51.100.1"}, "198.51.100.1"},
		{"its last line", "X-Forwarded-For", "192.0.2.1:5000", []string{"203.0.113.9", "198.51.100.2"}, "198.51.100.2"},
		{"unreadable: the TCP peer", "X-Forwarded-For", "192.0.2.1:5000", []string{"unknown"}, "192.0.2.1"},
		{"missing: the TCP peer", "X-Forwarded-For", "192.0.2.1:5000", nil, "192.0.2.1"},
		{"no address at all", "", "pipe", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/graphql", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.values {
				r.Header.Add("X-Forwarded-For", v)
			}
			a, ok := clientAddr(r, tc.header)
			got := ""
			if ok {
				got = a.String()
			}
			if got != tc.want {
				t.Errorf("clientAddr = %q, want %q", got, tc.want)
			}
		})
	}
}
