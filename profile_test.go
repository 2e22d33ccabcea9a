package headline

import (
	"strconv"
	"strings"
	"testing"
)

func TestNormalizeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name       string
		upd        ProfileUpdate
		field, msg string
	}{
		{"a name of one NUL", nameUpdate("\x00"), "name", "control characters"},
		{"a NUL inside a name", nameUpdate("a\x00b"), "name", "control characters"},
		{"a NUL between spaces", nameUpdate(" \x00 "), "name", "control characters"},
		{"a bell in a name", nameUpdate("ring\a"), "name", "control characters"},
		{"a newline inside a name", nameUpdate("two\nlines"), "name", "control characters"},
		{"DEL in a name", nameUpdate("a\x7fb"), "name", "control characters"},
		{"NEL (U+0085) inside a name", nameUpdate("a\u0085b"), "name", "control characters"},
		{"CSI (U+009B) in a name", nameUpdate("a\u009b31mred"), "name", "control characters"},
		{"an intro of one NUL", introUpdate("\x00"), "intro", "control characters"},
		{"a NUL inside an intro", introUpdate("a\x00b"), "intro", "control characters"},
		{"a newline in an intro", introUpdate("line\nbreak"), "intro", "control characters"},
		{"a tab in an intro", introUpdate("tab\there"), "intro", "control characters"},
		{"an escape sequence in an intro", introUpdate("\x1b[2J"), "intro", "control characters"},
		{"a C1 control in a photo", photoUpdate("https://x/a\u0085.png"), "photo", "control characters"},
		{"a photo with user and password", photoUpdate("http://user:pass@img.example.com/a.png"), "photo", "credentials"},
		{"a photo with a user only", photoUpdate("https://token@img.example.com/a.png"), "photo", "credentials"},
		{"a photo with a password only", photoUpdate("https://:pass@img.example.com/a.png"), "photo", "credentials"},
		{"a photo with an empty user", photoUpdate("https://@img.example.com/a.png"), "photo", "credentials"},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			_, err := tc.upd.Normalize()
			checkBadInput(t, err, tc.field)
			if err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q does not say %q", err.Error(), tc.msg)
			}
		})
	}
}

// invisibleNames are names that render as nothing.
var invisibleNames = []string{
	"\u200b", "\u200c", "\u200d", "\u200b\u200c\u200d", "\u200e\u200f", "\u2060", "\u2061\u2062\u2063\u2064",
	"\ufeff", "\u180e", "\u00ad", "\u202e", "\u2066\u2069", "\u034f", "\u3164", "\u115f\u1160", "\uffa0",
	"\u2800", "\ufe0f", "\U000e0041\U000e007f", "\U000e0100", "\u17b4", "\U0001d173",
	" \u200b\u3000\u2800 ", "\u3164\u3164\u3164",
}

func TestNormalizeRefusesInvisibleNames(t *testing.T) {
	for _, name := range invisibleNames {
		t.Run("refuses "+strconv.QuoteToASCII(name), func(t *testing.T) {
			_, err := nameUpdate(name).Normalize()
			checkBadInput(t, err, "name")
			if err != nil && !strings.Contains(err.Error(), "must not be empty") {
				t.Errorf("message %q is not the one of an empty name", err.Error())
			}
		})
	}
}

func TestNormalizeAccepts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		upd      ProfileUpdate
		wantName string // the name after Normalize, for a name update
	}{
		{"a zero-width joiner inside an emoji sequence", nameUpdate("\U0001f469\u200d\U0001f4bb"), "\U0001f469\u200d\U0001f4bb"},
		{"a zero-width space between letters", nameUpdate("a\u200bb"), "a\u200bb"},
		{"a Hangul filler beside a letter", nameUpdate("\u3164x"), "\u3164x"},
		{"an Arabic number sign, a format character that is drawn", nameUpdate("\u0600"), "\u0600"},
		{"a lone combining mark", nameUpdate("\u0301"), "\u0301"},
		{"a name trimmed of a tab and a newline around it", nameUpdate("\tname\n"), "name"},
		{"32 emoji", nameUpdate(strings.Repeat("\U0001f642", 32)), strings.Repeat("\U0001f642", 32)},
		{"an empty intro", introUpdate(""), ""},
		{"an intro of spaces", introUpdate("   "), ""},
		{"an intro with U+FFFD, a character like any other", introUpdate("\ufffd"), ""},
		{"a photo with an @ in its path", photoUpdate("https://img.example.com/@me.png"), ""},
	} {
		t.Run("accepts "+tc.name, func(t *testing.T) {
			got, err := tc.upd.Normalize()
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if tc.upd.Name.Set && *got.Name.Value != tc.wantName {
				t.Errorf("name = %q, want %q", *got.Name.Value, tc.wantName)
			}
		})
	}
}

func nameUpdate(s string) ProfileUpdate {
	return ProfileUpdate{Name: Change[*string]{Set: true, Value: &s}}
}
func introUpdate(s string) ProfileUpdate {
	return ProfileUpdate{Intro: Change[*string]{Set: true, Value: &s}}
}
func photoUpdate(s string) ProfileUpdate {
	return ProfileUpdate{Photo: Change[*string]{Set: true, Value: &s}}
}
