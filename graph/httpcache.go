package graph

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
)

// writeCacheable answers a GET whose answer a cache may keep: with the
// operation's Cache-Control, a strong ETag, and Vary on what else chose
// the bytes; a request whose If-None-Match has that ETag gets 304 and no
// body. The operation has run either way: the ETag is the answer's hash.
func (x *exchange) writeCacheable(body []byte, p cachePolicy) {
	h := x.w.Header()
	etag := bodyETag(body)
	h.Set("Cache-Control", p.header())
	h.Set("ETag", etag)
	// The media type follows Accept. A private answer also follows the
	// token; a public one is the same for every viewer.
	h.Add("Vary", "Accept")
	if p.scope == scopePrivate {
		h.Add("Vary", "Authorization")
	}
	if noneMatch(x.r.Header.Values("If-None-Match"), etag) {
		x.w.WriteHeader(http.StatusNotModified)
		return
	}
	x.write(http.StatusOK, body)
}

// bodyETag is a strong entity tag for body: 128 bits of its SHA-256, so
// that every instance gives the same answer the same tag.
func bodyETag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

// noneMatch reports whether If-None-Match (its lines) names etag, by the
// weak comparison RFC 9110 (13.1.2) prescribes for it, or is "*".
func noneMatch(lines []string, etag string) bool {
	for _, line := range lines {
		for tag := range strings.SplitSeq(line, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
				return true
			}
		}
	}
	return false
}
