package api

import "net/http"

// closeAfterChunked closes the connection after answering any HTTP/1.1
// request whose body came chunked.
//
// RFC 9112 §6.1: a request carrying both Content-Length and
// Transfer-Encoding may be a smuggling attempt (a proxy in front may have
// framed it by the other header), and the server must close the connection
// after responding. net/http frames such a request by Transfer-Encoding and
// deletes Content-Length before any handler runs (transfer.go, fixLength),
// so a handler cannot tell it from a plain chunked request: both are closed.
// GraphQL clients send a Content-Length (fetch, Apollo, curl -d), so the
// cost, a new connection for a client that streams its body, falls on few.
// HTTP/2 has no chunked framing and is left alone.
func closeAfterChunked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 1 && len(r.TransferEncoding) > 0 {
			// net/http closes the connection after the response when the
			// handler set this header.
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
