package headline

import (
	"context"
	"net/netip"
)

type clientAddrKey struct{}

// WithClientAddr returns ctx carrying the address of the client that sent
// the request: the TCP peer, or what a proxy the server trusts says.
func WithClientAddr(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddr returns the address WithClientAddr put in ctx; ok is false
// when there is none.
func ClientAddr(ctx context.Context) (addr netip.Addr, ok bool) {
	addr, ok = ctx.Value(clientAddrKey{}).(netip.Addr)
	return addr, ok && addr.IsValid()
}
