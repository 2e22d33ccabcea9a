package api

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
)

// storedBytes reads user id's profile columns straight from MySQL as the
// hex of the bytes stored, so that no decoding between the table and the
// test can hide a difference; a NULL column is a nil field.
func (s *testServer) storedBytes(t *testing.T, id int64) servertest.User {
	t.Helper()
	var name string
	var photo, intro, certi sql.NullString
	// HEX(NULL) is NULL in MySQL but '' in SQLite: ask for the NULLs apart.
	row := s.Base.QueryRowContext(context.Background(), `SELECT HEX(user_name),
		CASE WHEN profile_photo IS NULL THEN NULL ELSE HEX(profile_photo) END,
		CASE WHEN introduction IS NULL THEN NULL ELSE HEX(introduction) END,
		CASE WHEN certificate IS NULL THEN NULL ELSE HEX(certificate) END
		FROM user_basic WHERE user_id = ?`, id)
	if err := row.Scan(&name, &photo, &intro, &certi); err != nil {
		t.Fatalf("read user %d: %v", id, err)
	}
	unhex := func(h string) string {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatalf("HEX() gave %q: %v", h, err)
		}
		return string(b)
	}
	opt := func(h sql.NullString) *string {
		if !h.Valid {
			return nil
		}
		s := unhex(h.String)
		return &s
	}
	return servertest.User{ID: strconv.FormatInt(id, 10), Name: unhex(name), Photo: opt(photo), Intro: opt(intro), Certi: opt(certi)}
}

// showBytes renders u with every string quoted in ASCII, so a difference in
// a single byte or an invisible character shows in the failure.
func showBytes(u servertest.User) string {
	q := func(p *string) string {
		if p == nil {
			return "null"
		}
		return strconv.QuoteToASCII(*p)
	}
	return fmt.Sprintf("{name:%s photo:%s intro:%s certi:%s}", strconv.QuoteToASCII(u.Name), q(u.Photo), q(u.Intro), q(u.Certi))
}

func TestUpdateMeStoresExactlyWhatItAccepted(t *testing.T) {
	s := newTestServer(t)
	// Each case is a user of its own, one of 60 ids.
	s.runUpdateCases(t, 60, exactCases, s.checkExact)
}

// exactCases are the inputs, the i-th for user first+i; each name one sets
// is unique by that user's id, n(i).
func exactCases(first int64) []updateCase {
	n := func(i int64) string { return fmt.Sprint(first + i) }
	// 27 four-byte characters, and the last 5 digits of the id.
	emoji32 := strings.Repeat("\U0001f642", 27) + fmt.Sprintf("%05d", (first+5)%100000)
	photo128 := "https://img.example.com/" + strings.Repeat("\u56fe", 128-len("https://img.example.com/"))
	return []updateCase{
		{name: "an ASCII name",
			in: map[string]any{"name": "ascii " + n(0)}, want: func(u *headline.User) { u.Name = "ascii " + n(0) }},
		{name: "a Chinese name and intro",
			in:   map[string]any{"name": "张三 " + n(1), "intro": "你好，世界"},
			want: func(u *headline.User) { u.Name, u.Intro = "张三 "+n(1), servertest.Ptr("你好，世界") }},
		{name: "emoji, four bytes each, in the name and the intro",
			in:   map[string]any{"name": "\U0001f642 " + n(2), "intro": "\U0001f389\U0001f389"},
			want: func(u *headline.User) { u.Name, u.Intro = "\U0001f642 "+n(2), servertest.Ptr("\U0001f389\U0001f389") }},
		{name: "an emoji sequence joined by ZWJ",
			in: map[string]any{"name": "\U0001f469\u200d\U0001f4bb " + n(3)}, want: func(u *headline.User) { u.Name = "\U0001f469\u200d\U0001f4bb " + n(3) }},
		{name: "combining marks are kept as sent, not composed",
			in:   map[string]any{"name": "Jose\u0301 " + n(4), "intro": "cafe\u0301 \u00e9"},
			want: func(u *headline.User) { u.Name, u.Intro = "Jose\u0301 "+n(4), servertest.Ptr("cafe\u0301 \u00e9") }},
		{name: "a name of 32 characters, 27 of them emoji (113 bytes)",
			in: map[string]any{"name": emoji32}, want: func(u *headline.User) { u.Name = emoji32 }},
		{name: "an intro of 50 emoji (200 bytes)",
			in: map[string]any{"intro": strings.Repeat("\U0001f600", 50)}, want: func(u *headline.User) { u.Intro = servertest.Ptr(strings.Repeat("\U0001f600", 50)) }},
		{name: "a photo of 128 characters, 104 of them Chinese",
			in: map[string]any{"photo": photo128}, want: func(u *headline.User) { u.Photo = servertest.Ptr(photo128) }},
		{name: "a name trimmed of spaces, tabs and ideographic spaces",
			in: map[string]any{"name": " \t trimmed " + n(8) + "\u3000\n"}, want: func(u *headline.User) { u.Name = "trimmed " + n(8) }},
		{name: "an intro keeps its surrounding spaces",
			in: map[string]any{"intro": "  spaced  "}, want: func(u *headline.User) { u.Intro = servertest.Ptr("  spaced  ") }},
		{name: "an empty intro is stored empty, not null",
			in: map[string]any{"intro": ""}, want: func(u *headline.User) { u.Intro = servertest.Ptr("") }},
		{name: "null clears the intro and the photo",
			in: map[string]any{"intro": nil, "photo": nil}, want: func(u *headline.User) { u.Intro, u.Photo = nil, nil }},
		{name: "quotes, backslashes and placeholders reach the row as sent",
			in: map[string]any{"name": `o'brien\ "` + n(12) + `"`, "intro": `C:\dir\ 'a' "b" ? ?0 ?name %_ \0 \n`},
			want: func(u *headline.User) {
				u.Name, u.Intro = `o'brien\ "`+n(12)+`"`, servertest.Ptr(`C:\dir\ 'a' "b" ? ?0 ?name %_ \0 \n`)
			}},
		{name: "a zero-width space between visible letters",
			in: map[string]any{"name": "a\u200bb " + n(13)}, want: func(u *headline.User) { u.Name = "a\u200bb " + n(13) }},
		{name: "astral CJK, private use, U+FFFD and noncharacters",
			in: map[string]any{"name": "\U00020000\ue000 " + n(14), "intro": "\ufffd\uffff\U0010ffff"},
			want: func(u *headline.User) {
				u.Name, u.Intro = "\U00020000\ue000 "+n(14), servertest.Ptr("\ufffd\uffff\U0010ffff")
			}},

		{name: "a name of one NUL", in: map[string]any{"name": "\x00"}, field: "name", msg: "control characters"},
		{name: "a NUL inside a name", in: map[string]any{"name": "a\x00b"}, field: "name", msg: "control characters"},
		{name: "a NUL inside a name beside a good intro", in: map[string]any{"name": "a\x00b", "intro": "ok"}, field: "name", msg: "control characters"},
		{name: "a newline inside a name", in: map[string]any{"name": "two\nlines"}, field: "name", msg: "control characters"},
		{name: "a C1 control inside a name", in: map[string]any{"name": "a\u009bb"}, field: "name", msg: "control characters"},
		{name: "an intro of one NUL", in: map[string]any{"intro": "\x00"}, field: "intro", msg: "control characters"},
		{name: "a NUL inside an intro", in: map[string]any{"intro": "a\x00b"}, field: "intro", msg: "control characters"},
		{name: "a tab inside an intro", in: map[string]any{"intro": "a\tb"}, field: "intro", msg: "control characters"},
		{name: "a name of zero-width characters", in: map[string]any{"name": "\u200b\u200c\u200d"}, field: "name", msg: "must not be empty"},
		{name: "a name of a word joiner and a BOM", in: map[string]any{"name": "\u2060\ufeff"}, field: "name", msg: "must not be empty"},
		{name: "a name of a Mongolian vowel separator", in: map[string]any{"name": "\u180e"}, field: "name", msg: "must not be empty"},
		{name: "a name of Hangul fillers", in: map[string]any{"name": "\u3164\u115f\u1160\uffa0"}, field: "name", msg: "must not be empty"},
		{name: "a name of a braille blank between spaces", in: map[string]any{"name": " \u2800 "}, field: "name", msg: "must not be empty"},
		{name: "a photo with a user and password", in: map[string]any{"photo": "http://user:pass@img.example.com/a.png"}, field: "photo", msg: "credentials"},
		{name: "a photo with a user", in: map[string]any{"photo": "https://user@img.example.com/a.png"}, field: "photo", msg: "credentials"},
	}
}

// checkExact sends tc's input as user id and checks every byte stored.
func (s *testServer) checkExact(t *testing.T, id int64, tc updateCase) {
	before := updateProfile(id)
	s.ReplaceUsers(t, before)
	r := s.UpdateMe(t, id, tc.in)
	stored := s.storedBytes(t, id)
	if tc.want == nil {
		wantRefused(t, r, headline.ECodeBadInput, tc.field, tc.msg)
		if got, want := showBytes(stored), showBytes(*asJSON(&before)); got != want {
			t.Errorf("a refused update changed the row: MySQL has %s, want %s", got, want)
		}
		return
	}
	if len(r.Errors) > 0 {
		t.Fatalf("refused: %s", r.Raw)
	}
	answer := r.User(t, "updateMe")
	if answer == nil {
		t.Fatalf("updateMe = null: %s", r.Raw)
	}
	if got, want := showBytes(stored), showBytes(*answer); got != want {
		t.Errorf("MySQL has %s, the answer says %s", got, want)
	}
	want := before
	tc.want(&want)
	if got, want := showBytes(stored), showBytes(*asJSON(&want)); got != want {
		t.Errorf("MySQL has %s, want what was sent: %s", got, want)
	}
}
