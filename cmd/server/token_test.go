package main

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

type tokenOpts struct {
	userID any // int64 or any other JSON value; nil leaves it out
	claims jwt.MapClaims
	method jwt.SigningMethod
	secret string
	ttl    time.Duration
	omit   []string
}

// token signs a token like the Toutiao backend's, with the given changes.
func token(t testing.TB, o tokenOpts) string {
	t.Helper()
	c := jwt.MapClaims{"refresh": false, "exp": time.Now().Add(2 * time.Hour).Unix()}
	if o.userID != nil {
		c["user_id"] = o.userID
	}
	if o.ttl != 0 {
		c["exp"] = time.Now().Add(o.ttl).Unix()
	}
	for k, v := range o.claims {
		c[k] = v
	}
	for _, k := range o.omit {
		delete(c, k)
	}
	method := o.method
	if method == nil {
		method = jwt.SigningMethodHS256
	}
	secret := o.secret
	if secret == "" {
		secret = testSecret
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
