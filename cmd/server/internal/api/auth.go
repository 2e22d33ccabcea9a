package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/headline/headline"
)

// maxTokenBytes bounds what is parsed: the Toutiao backend's access tokens
// are under 200 bytes, and a huge header is refused before any base64 or
// JSON work.
const maxTokenBytes = 2048

// DefaultTokenLeeway absorbs clock skew between the Toutiao backend that
// issues tokens and this server (JWT_LEEWAY's default).
const DefaultTokenLeeway = 5 * time.Second

// minSecretBytes is the shortest HS256 secret RFC 7518 (3.2) allows: as
// long as the hash's output, 32 bytes.
const minSecretBytes = 32

// WarnShortSecret logs a warning when secret, the value of setting, is
// shorter than minSecretBytes. Not a refusal: the Flask deployment signs
// with the same secret, which may be shorter, and both must verify the same
// tokens; the fix is to rotate both (JWT_SECRET_PREVIOUS carries the old one
// meanwhile).
func WarnShortSecret(log *slog.Logger, setting, secret string) {
	if n := len(secret); n > 0 && n < minSecretBytes {
		log.Warn(setting+" is shorter than 32 bytes, the least HS256 should have (RFC 7518 3.2): "+
			"tokens signed with it are easier to forge by guessing; rotate it, here and in the Flask app",
			"bytes", n)
	}
}

// accessClaims is the payload the Toutiao backend signs:
// {"user_id": <int>, "refresh": false, "exp": <unix time>}.
type accessClaims struct {
	// Raw, so that only a JSON integer is taken: json.Number would also take
	// "42" in quotes, and float64 would take 42.5.
	UserID  jsonRaw `json:"user_id"`
	Refresh *bool   `json:"refresh"`
	jwt.RegisteredClaims
}

// UnmarshalJSON refuses a payload whose exp, nbf or iat is not a JSON
// number. RFC 7519 makes them NumericDates, numbers; golang-jwt's NumericDate
// also reads one in quotes ("exp": "1893456000") and takes null for absent.
// The claims are read by the same case-insensitive field matching that fills
// RegisteredClaims, so the value checked is the one used.
func (c *accessClaims) UnmarshalJSON(b []byte) error {
	var times struct {
		Exp jsonRaw `json:"exp"`
		Nbf jsonRaw `json:"nbf"`
		Iat jsonRaw `json:"iat"`
	}
	if err := json.Unmarshal(b, &times); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		raw  jsonRaw
	}{{"exp", times.Exp}, {"nbf", times.Nbf}, {"iat", times.Iat}} {
		// A JSON value given to UnmarshalJSON has no surrounding space; a
		// number is the only kind that starts with '-' or a digit.
		if f.raw != nil && !(f.raw[0] == '-' || f.raw[0] >= '0' && f.raw[0] <= '9') {
			return fmt.Errorf("claim %s is %.20s, not a number", f.name, f.raw)
		}
	}
	type plain accessClaims // without this method
	return json.Unmarshal(b, (*plain)(c))
}

type jsonRaw []byte

func (r *jsonRaw) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

// TokenVerifier checks access tokens as the Toutiao backend issues them:
// HS256 only, exp required, nbf and iat not in the future, within a leeway.
type TokenVerifier struct {
	keys   jwt.VerificationKeySet
	parser *jwt.Parser
}

// NewTokenVerifier accepts tokens signed with any of secrets (the current
// one and, during a rotation, the previous one), with exp, nbf and iat
// checked within leeway; empty secrets are skipped.
func NewTokenVerifier(leeway time.Duration, secrets ...string) *TokenVerifier {
	v := &TokenVerifier{parser: jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
	)}
	for _, s := range secrets {
		if s != "" {
			v.keys.Keys = append(v.keys.Keys, []byte(s))
		}
	}
	return v
}

func unauthenticated(msg string) headline.Viewer {
	return headline.Viewer{Err: headline.Errorf(headline.ECodeUnauthenticated, "%s", msg)}
}

// viewer returns who the Authorization header names. Any fault gives a
// viewer without a user whose Err is UNAUTHENTICATED; it never fails the
// request, so public fields are still served.
func (v *TokenVerifier) viewer(authorization string) headline.Viewer {
	if authorization == "" {
		return unauthenticated(headline.MsgUnauthorized)
	}
	token, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || token == "" {
		return unauthenticated("User must be authorized: send Authorization: Bearer <access token>.")
	}
	if len(token) > maxTokenBytes {
		return unauthenticated("User must be authorized: the token is too long.")
	}
	var claims accessClaims
	_, err := v.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return v.keys, nil })
	if err != nil {
		return unauthenticated("User must be authorized: the token is invalid or expired.")
	}
	if claims.Refresh == nil {
		return unauthenticated("User must be authorized: the token is not an access token.")
	}
	if *claims.Refresh {
		return unauthenticated("Do not use refresh token.")
	}
	id, err := strconv.ParseInt(string(claims.UserID), 10, 64)
	if err != nil || id < 1 || claims.UserID[0] == '+' {
		return unauthenticated("User must be authorized: the token names no user.")
	}
	return headline.Viewer{UserID: id}
}

// authenticate puts the request's viewer in its context. A request without
// Authorization is left as it is: headline.ViewerFromContext answers it
// with ErrUnauthorized, what viewer("") would say.
func authenticate(v *TokenVerifier) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			authorization := r.Header.Get("Authorization")
			if authorization == "" {
				next.ServeHTTP(w, r)
				return
			}
			ctx := headline.NewContextWithViewer(r.Context(), v.viewer(authorization))
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// MintToken signs an access token for id, valid for ttl, in the Toutiao
// backend's format. The embedded mode prints one so `me` can be tried.
func MintToken(secret string, id headline.UserID, ttl time.Duration) (string, error) {
	claims := jwt.MapClaims{
		"user_id": id,
		"refresh": false,
		"exp":     time.Now().Add(ttl).Unix(),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}
