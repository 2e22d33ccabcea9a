package api

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/headline/headline"
)

// TestTimeClaimsMustBeNumbers: exp, nbf and iat, when present, are
// NumericDates (RFC 7519 §2): JSON numbers, fractions and exponents
// included. golang-jwt's NumericDate also reads a number in quotes, and
// takes null for absent.
//
// PyJWT (2.6.0, the Flask app's; also its current release) runs int() on
// each claim, so it takes "1893456000" for exp and nbf and true for nbf and
// iat, and fails with a TypeError on null, objects and arrays; headline
// refuses all of them, as the RFC says. The Toutiao backend writes exp as an
// integer, so no token it issues is refused.
func TestTimeClaimsMustBeNumbers(t *testing.T) {
	v := NewTokenVerifier(DefaultTokenLeeway, testSecret)
	now := time.Now().Unix()
	past, future := strconv.FormatInt(now-60, 10), strconv.FormatInt(now+3600, 10)
	for _, tc := range []struct {
		claim, value string
		accepted     bool
	}{
		{"exp", future, true},
		{"exp", future + ".5", true},
		{"exp", "1.9e9", true},
		{"exp", "2E+9", true},
		{"exp", `"` + future + `"`, false},
		{"exp", `"` + future + `.5"`, false},
		{"exp", `"abc"`, false},
		{"exp", `""`, false},
		{"exp", "true", false},
		{"exp", "null", false},
		{"exp", "{}", false},
		{"exp", `{"t":` + future + `}`, false},
		{"exp", "[" + future + "]", false},
		{"exp", "1e400", false},
		{"exp", "-1", false},
		{"nbf", past, true},
		{"nbf", past + ".25", true},
		{"nbf", "-1", true},
		{"nbf", `"` + past + `"`, false},
		{"nbf", "true", false},
		{"nbf", "false", false},
		{"nbf", "null", false},
		{"nbf", "{}", false},
		{"nbf", "[" + past + "]", false},
		{"iat", past, true},
		{"iat", past + ".75", true},
		{"iat", "0", true},
		{"iat", `"` + past + `"`, false},
		{"iat", "true", false},
		{"iat", "null", false},
		{"iat", "{}", false},
		{"iat", "[]", false},
	} {
		verdict := map[bool]string{true: "accepted", false: "UNAUTHENTICATED"}[tc.accepted]
		value := strings.NewReplacer(future, "<in an hour>", past, "<a minute ago>").Replace(tc.value)
		t.Run(tc.claim+" "+value+" is "+verdict, func(t *testing.T) {
			payload := `{"user_id": 20002, "refresh": false, "exp": ` + future + `, "` + tc.claim + `": ` + tc.value + `}`
			if tc.claim == "exp" {
				payload = `{"user_id": 20002, "refresh": false, "exp": ` + tc.value + `}`
			}
			got := v.viewer("Bearer " + signRawPayload(t, payload))
			if tc.accepted {
				if got.Err != nil || got.UserID != 20002 {
					t.Errorf("viewer = %+v, want user 20002", got)
				}
				return
			}
			if e, ok := errors.AsType[*headline.Error](got.Err); got.UserID != 0 || !ok || e.Code != headline.ECodeUnauthenticated {
				t.Errorf("viewer = {UserID:%d Err:%v}, want no user and UNAUTHENTICATED", got.UserID, got.Err)
			}
		})
	}
}
