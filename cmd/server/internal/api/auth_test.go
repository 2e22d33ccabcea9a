package api

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/storetest"
)

// signRawPayload signs payload, a JSON object written out by hand, with the
// test secret, for claims that jwt.MapClaims cannot spell (20002.0, 2.0002e4).
func signRawPayload(t testing.TB, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(signing, []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + enc.EncodeToString(sig)
}

// paddedToken returns a valid access token for id whose length is
// the largest not above limit (over false) or the smallest above it (over
// true), grown by a "pad" claim.
func paddedToken(t testing.TB, id headline.UserID, limit int, over bool) string {
	t.Helper()
	var best string
	for n := 0; n < 2*limit; n++ {
		tok := servertest.Token(t, servertest.TokenOptions{UserID: id, Claims: jwt.MapClaims{"pad": strings.Repeat("x", n)}})
		if len(tok) > limit {
			if over {
				return tok
			}
			if best == "" {
				t.Fatalf("even an unpadded token is over %d bytes", limit)
			}
			return best
		}
		best = tok
	}
	t.Fatalf("no padding took a token over %d bytes", limit)
	return ""
}

func TestBadTokensLeavePublicFieldsServed(t *testing.T) {
	s := newTestServer(t)
	authPublicID := storetest.IDs(t, 3) // the user every query reads publicly
	authViewerID := authPublicID + 1    // the user the valid tokens name
	authMissingID := authPublicID + 2   // no user has this id
	s.AddUsers(t,
		headline.User{ID: authPublicID, Name: fmt.Sprintf("public-%d", authPublicID)},
		headline.User{ID: authViewerID, Name: fmt.Sprintf("viewer-%d", authViewerID)},
	)
	cases := badTokenCases(t, authViewerID, authMissingID)
	query := fmt.Sprintf(`{ me { id name } u: user(id: "%d") { name } }`, authPublicID)
	for _, tc := range cases {
		t.Run(tc.name+" leaves me null and user served", func(t *testing.T) {
			var headers []string
			if tc.authorization != "" {
				headers = []string{"Authorization", tc.authorization}
			}
			r := s.Post(t, query, nil, headers...)
			if r.Status != 200 {
				t.Errorf("status = %d, want 200: %s", r.Status, r.Raw)
			}
			if got := string(r.Data["me"]); got != "null" {
				t.Errorf("me = %s, want null", got)
			}
			if got, want := r.Code("me"), headline.ECodeUnauthenticated; got != want {
				t.Errorf("me's extensions.code = %q, want %q: %s", got, want, r.Raw)
			}
			if len(r.Errors) != 1 {
				t.Errorf("got %d errors, want only the one at me: %s", len(r.Errors), r.Raw)
			}
			if tc.wantMessage != "" && len(r.Errors) > 0 {
				if got := r.Errors[0].Message; got != tc.wantMessage {
					t.Errorf("message = %q, want %q", got, tc.wantMessage)
				}
			}
			if u := r.User(t, "u"); u == nil || u.Name != fmt.Sprintf("public-%d", authPublicID) {
				t.Errorf("u = %+v, want user %d whatever the token: %s", u, authPublicID, r.Raw)
			}
		})
	}
}

// badTokenCase is an Authorization header that must leave me null.
type badTokenCase struct {
	name          string
	authorization string // "" sends no Authorization header
	wantMessage   string // checked when not empty
}

// badTokenCases are the headers that name no viewer, where viewerID is the
// user the valid tokens name and missingID names no user.
func badTokenCases(t *testing.T, authViewerID, authMissingID int64) []badTokenCase {
	valid := servertest.Token(t, servertest.TokenOptions{UserID: authViewerID})
	return []badTokenCase{
		{name: "no Authorization header", authorization: "", wantMessage: "User must be authorized."},
		{name: "Bearer with an empty token", authorization: "Bearer "},
		{name: "Bearer without a space or token", authorization: "Bearer"},
		{name: "two spaces after Bearer", authorization: "Bearer  " + valid},
		{name: "scheme Token", authorization: "Token " + valid},
		{name: "scheme bearer in lower case", authorization: "bearer " + valid},
		{name: "the token without a scheme", authorization: valid},
		{name: "garbage", authorization: "Bearer not-a-jwt"},
		{name: "three dots of garbage", authorization: "Bearer a.b.c"},
		{name: "signed with another secret", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: authViewerID, Secret: "some-other-secret"})},
		{name: "expired beyond the leeway", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: authViewerID, TTL: -time.Minute})},
		{name: "alg none", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: authViewerID, Method: jwt.SigningMethodNone})},
		{name: "HS512 with the same secret", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: authViewerID, Method: jwt.SigningMethodHS512})},
		{name: "HS384 with the same secret", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: authViewerID, Method: jwt.SigningMethodHS384})},
		{name: "a refresh token", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: authViewerID, Claims: jwt.MapClaims{"refresh": true}}), wantMessage: "Do not use refresh token."},
		{name: "refresh claim missing", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: authViewerID, Omit: []string{"refresh"}})},
		{name: "refresh claim a string", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: authViewerID, Claims: jwt.MapClaims{"refresh": "false"}})},
		{name: "user_id missing", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{})},
		{name: "user_id null", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{Claims: jwt.MapClaims{"user_id": nil}})},
		// The ids below name the existing viewer once coerced, so a verifier
		// that coerced them would answer me with a user.
		{name: "user_id the viewer's id as a string", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: fmt.Sprint(authViewerID)})},
		{name: "user_id the float viewer+0.5", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: float64(authViewerID) + 0.5})},
		{name: "user_id a whole float spelt viewer.0", authorization: "Bearer " + signRawPayload(t, fmt.Sprintf(`{"user_id": %d.0, "refresh": false, "exp": `+futureExp()+`}`, authViewerID))},
		{name: "user_id in exponent form", authorization: "Bearer " + signRawPayload(t, `{"user_id": `+strconv.FormatFloat(float64(authViewerID), 'e', -1, 64)+`, "refresh": false, "exp": `+futureExp()+`}`)},
		{name: "user_id a list", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: []int64{authViewerID}})},
		{name: "user_id zero", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: 0})},
		{name: "user_id negative", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: -authViewerID})},
		{name: "user_id beyond int64", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: uint64(1) << 63})},
		{name: "exp missing", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: authViewerID, Omit: []string{"exp"}})},
		{name: "iat an hour ahead", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: authViewerID, Claims: jwt.MapClaims{"iat": time.Now().Add(time.Hour).Unix()}})},
		{name: "nbf an hour ahead", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: authViewerID, Claims: jwt.MapClaims{"nbf": time.Now().Add(time.Hour).Unix()}})},
		{name: "a valid token over 2048 bytes", authorization: "Bearer " + paddedToken(t, authViewerID, maxTokenBytes, true)},
		{name: "a valid token for an id with no user", authorization: "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: authMissingID}), wantMessage: "User must be authorized."},
	}
}

func TestValidTokensNameTheViewer(t *testing.T) {
	s := newTestServer(t)
	publicID := storetest.IDs(t, 2)
	viewerID := publicID + 1
	s.AddUsers(t,
		headline.User{ID: publicID, Name: fmt.Sprintf("public-%d", publicID)},
		headline.User{ID: viewerID, Name: fmt.Sprintf("viewer-%d", viewerID)},
	)
	cases := []struct {
		name  string
		token string
	}{
		{"a fresh access token", servertest.Token(t, servertest.TokenOptions{UserID: viewerID})},
		{"as mintToken signs it", mustMint(t, viewerID)},
		{"expired within the 5s leeway", servertest.Token(t, servertest.TokenOptions{UserID: viewerID, TTL: -2 * time.Second})},
		{"iat now", servertest.Token(t, servertest.TokenOptions{UserID: viewerID, Claims: jwt.MapClaims{"iat": time.Now().Unix()}})},
		{"nbf in the past", servertest.Token(t, servertest.TokenOptions{UserID: viewerID, Claims: jwt.MapClaims{"nbf": time.Now().Add(-time.Minute).Unix()}})},
		{"as long as allowed", paddedToken(t, viewerID, maxTokenBytes, false)},
	}
	for _, tc := range cases {
		t.Run(tc.name+" returns the user as me", func(t *testing.T) {
			r := s.Post(t, fmt.Sprintf(`{ me { id name } u: user(id: "%d") { name } }`, publicID), nil, "Authorization", "Bearer "+tc.token)
			if len(r.Errors) > 0 {
				t.Fatalf("errors: %s", r.Raw)
			}
			me := r.User(t, "me")
			if me == nil || me.ID != fmt.Sprint(viewerID) || me.Name != fmt.Sprintf("viewer-%d", viewerID) {
				t.Errorf("me = %+v, want user %d", me, viewerID)
			}
			if u := r.User(t, "u"); u == nil || u.Name != fmt.Sprintf("public-%d", publicID) {
				t.Errorf("u = %+v, want user %d", u, publicID)
			}
		})
	}
}

func mustMint(t testing.TB, id headline.UserID) string {
	t.Helper()
	tok, err := MintToken(testSecret, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// futureExp is an exp claim an hour ahead, as JSON.
func futureExp() string {
	return strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
}
