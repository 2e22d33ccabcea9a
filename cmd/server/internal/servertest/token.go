package servertest

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Secret is the JWT secret test servers accept.
const Secret = "toutiao-test-secret"

// TokenOptions are a token's differences from the Toutiao backend's access
// token for a user, signed with Secret and valid for 2 hours.
type TokenOptions struct {
	UserID any // int64 or any other JSON value; nil leaves it out
	Claims jwt.MapClaims
	Method jwt.SigningMethod
	Secret string
	TTL    time.Duration
	Omit   []string
}

// Token signs a token like the Toutiao backend's, with the given changes.
func Token(t testing.TB, o TokenOptions) string {
	t.Helper()
	c := jwt.MapClaims{"refresh": false, "exp": time.Now().Add(2 * time.Hour).Unix()}
	if o.UserID != nil {
		c["user_id"] = o.UserID
	}
	if o.TTL != 0 {
		c["exp"] = time.Now().Add(o.TTL).Unix()
	}
	for k, v := range o.Claims {
		c[k] = v
	}
	for _, k := range o.Omit {
		delete(c, k)
	}
	method := o.Method
	if method == nil {
		method = jwt.SigningMethodHS256
	}
	secret := o.Secret
	if secret == "" {
		secret = Secret
	}
	var key any = []byte(secret)
	if method == jwt.SigningMethodNone {
		key = jwt.UnsafeAllowNoneSignatureType
	}
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
