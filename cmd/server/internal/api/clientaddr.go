package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/headline/headline"
)

// withClientAddr puts the client's address in each GraphQL request's
// context, for the per-client budgets of persisted-query registrations
// (so only with APQ on): the TCP peer, or, when header is set, the address
// that header names (the last one of a list, as X-Forwarded-For grows: the
// one the proxy nearest to the server saw). A header clients can send
// themselves must be set only behind a proxy that overwrites or appends it;
// when it is missing or unreadable the TCP peer counts.
func withClientAddr(header string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, ok := clientAddr(r, header); ok {
			r = r.WithContext(headline.WithClientAddr(r.Context(), a))
		}
		next.ServeHTTP(w, r)
	})
}

func clientAddr(r *http.Request, header string) (netip.Addr, bool) {
	if header != "" {
		if vs := r.Header.Values(header); len(vs) > 0 {
			last := vs[len(vs)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if a, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
				return a.Unmap(), true
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	return a.Unmap(), err == nil
}
