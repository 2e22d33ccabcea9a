package main

import (
	"log/slog"
)

// minSecretBytes is the shortest HS256 secret RFC 7518 (3.2) allows: as
// long as the hash's output, 32 bytes.
const minSecretBytes = 32

// warnShortSecrets logs a warning for each JWT secret shorter than
// minSecretBytes. Not a refusal: the Flask deployment signs with the same
// secret, which may be shorter, and both must verify the same tokens; the
// fix is to rotate both (JWT_SECRET_PREVIOUS carries the old one meanwhile).
func warnShortSecrets(log *slog.Logger, cfg *Config) {
	for _, s := range []struct{ env, secret string }{
		{"JWT_SECRET", cfg.JWTSecret},
		{"JWT_SECRET_PREVIOUS", cfg.JWTSecretPrevious},
	} {
		if n := len(s.secret); n > 0 && n < minSecretBytes {
			log.Warn(s.env+" is shorter than 32 bytes, the least HS256 should have (RFC 7518 3.2): "+
				"tokens signed with it are easier to forge by guessing; rotate it, here and in the Flask app",
				"bytes", n)
		}
	}
}
