package api

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/headline/headline/cmd/server/internal/servertest"
)

func TestTokenVerifierRotationAndLeeway(t *testing.T) {
	v := NewTokenVerifier(5*time.Second, "current", "previous")
	now := time.Now()
	for _, tc := range []struct {
		name   string
		secret string
		claims jwt.MapClaims
		ok     bool
	}{
		{"signed with the current secret", "current", nil, true},
		{"signed with the previous secret during a rotation", "previous", nil, true},
		{"signed with neither", "other", nil, false},
		{"expired 2s ago, inside the 5s leeway", "current", jwt.MapClaims{"exp": now.Add(-2 * time.Second).Unix()}, true},
		{"expired 10s ago, past the leeway", "current", jwt.MapClaims{"exp": now.Add(-10 * time.Second).Unix()}, false},
		{"nbf 1 minute ahead", "current", jwt.MapClaims{"nbf": now.Add(time.Minute).Unix()}, false},
		{"nbf 2s ahead, inside the leeway", "current", jwt.MapClaims{"nbf": now.Add(2 * time.Second).Unix()}, true},
		{"iat 1 minute ahead", "current", jwt.MapClaims{"iat": now.Add(time.Minute).Unix()}, false},
		{"iat in the past", "current", jwt.MapClaims{"iat": now.Add(-time.Minute).Unix()}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := servertest.Token(t, servertest.TokenOptions{UserID: 42, Secret: tc.secret, Claims: tc.claims})
			got := v.viewer("Bearer " + tok)
			if ok := got.Err == nil; ok != tc.ok {
				t.Fatalf("accepted = %v (err %v), want %v", ok, got.Err, tc.ok)
			}
			if tc.ok && got.UserID != 42 {
				t.Errorf("user = %d, want 42", got.UserID)
			}
		})
	}

	t.Run("with no previous secret only the current one is accepted", func(t *testing.T) {
		v := NewTokenVerifier(5*time.Second, "current", "")
		if got := v.viewer("Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: 42, Secret: "previous"})); got.Err == nil {
			t.Error("a token signed with an unconfigured secret was accepted")
		}
	})
}

// FuzzTokenViewer feeds the Authorization header parser anything: it must
// never panic, and it accepts nothing that was not signed with the secret.
func FuzzTokenViewer(f *testing.F) {
	v := NewTokenVerifier(DefaultTokenLeeway, testSecret)
	good := servertest.Token(f, servertest.TokenOptions{UserID: 42})
	f.Add("Bearer " + good)
	f.Add("Bearer " + good[:len(good)-3])
	f.Add("Bearer " + servertest.Token(f, servertest.TokenOptions{UserID: "42"}))
	f.Add("Bearer " + servertest.Token(f, servertest.TokenOptions{UserID: 4.5}))
	f.Add("Bearer " + servertest.Token(f, servertest.TokenOptions{UserID: 42, Method: jwt.SigningMethodNone}))
	f.Add("Bearer e30.e30.")
	f.Add("Bearer ")
	f.Add("")
	f.Fuzz(func(t *testing.T, header string) {
		got := v.viewer(header)
		if got.Err == nil && header != "Bearer "+good {
			// A fuzzed header may only be accepted when it is a token our
			// secret signed; re-verify it independently.
			tok := header[len("Bearer "):]
			if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte(testSecret), nil },
				jwt.WithValidMethods([]string{"HS256"})); err != nil {
				t.Fatalf("accepted %q, which jwt rejects: %v", header, err)
			}
		}
		if got.Err == nil && got.UserID < 1 {
			t.Fatalf("accepted %q with user %d", header, got.UserID)
		}
	})
}
