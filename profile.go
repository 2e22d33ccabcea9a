package headline

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Change is one field of an update: left as it is unless Set.
type Change[T any] struct {
	Set   bool
	Value T
}

// ProfileUpdate is an edit of a user's own profile. Intro and Photo set to
// nil clear the field; Name cannot be cleared.
type ProfileUpdate struct {
	Name  Change[*string]
	Intro Change[*string]
	Photo Change[*string]
}

// Limits of user_basic's columns, in characters (VARCHAR counts characters).
const (
	maxNameChars  = 32
	maxIntroChars = 50
	maxPhotoChars = 128
)

// Normalize checks u against the table's rules and returns it with the name
// trimmed; the error is BAD_USER_INPUT naming the first field at fault.
//
// What Normalize accepts is stored byte for byte: user_basic is utf8mb4, so
// any valid UTF-8 fits, and the column limits count code points as
// utf8.RuneCountInString does. Control characters are refused rather than
// stored because the MySQL dialect of bun, which formats the query on the
// client (the driver never sees the arguments), silently drops every NUL
// from a string literal (mysqldialect.AppendString), and no reader of a
// profile wants the others (a newline in a name, a terminal escape).
func (u ProfileUpdate) Normalize() (ProfileUpdate, error) {
	if u.Name.Set {
		if u.Name.Value == nil {
			return u, BadInput("name", "name: a name cannot be cleared")
		}
		name := strings.TrimSpace(*u.Name.Value)
		if name == "" {
			return u, BadInput("name", "name: must not be empty")
		}
		if err := checkText("name", name, maxNameChars); err != nil {
			return u, err
		}
		if !strings.ContainsFunc(name, visible) {
			return u, BadInput("name", "name: must not be empty: it has no visible character")
		}
		u.Name.Value = &name
	}
	if u.Intro.Set && u.Intro.Value != nil {
		if err := checkText("intro", *u.Intro.Value, maxIntroChars); err != nil {
			return u, err
		}
	}
	if u.Photo.Set && u.Photo.Value != nil {
		s := *u.Photo.Value
		if err := checkText("photo", s, maxPhotoChars); err != nil {
			return u, err
		}
		p, err := url.Parse(s)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return u, BadInput("photo", "photo: must be an http or https URL")
		}
		// The URL is served to every reader of the profile: credentials in
		// it (even a user name alone, which may be a token) would leak.
		if p.User != nil {
			return u, BadInput("photo", "photo: must not carry credentials (user:password@)")
		}
	}
	return u, nil
}

// checkText refuses s, the value of field, unless it is valid UTF-8 of at
// most max characters with no control character (Unicode category Cc).
func checkText(field, s string, max int) error {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return BadInput(field, "%s: at most %d characters", field, max)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return BadInput(field, "%s: must not contain control characters", field)
	}
	return nil
}

// visible reports whether r shows as something when rendered alone. Not
// visible: white space; controls (Cc); format characters (Cf: zero-width
// space and joiners U+200B–U+200D, word joiner U+2060, BOM U+FEFF, Mongolian
// vowel separator U+180E, soft hyphen U+00AD, bidi controls, tags…) except
// the prepended concatenation marks such as U+0600, which are drawn; the
// other default-ignorable code points (Hangul fillers U+115F, U+1160, U+3164,
// U+FFA0, combining grapheme joiner U+034F…) and variation selectors; and
// U+2800 BRAILLE PATTERN BLANK, a symbol drawn as nothing. A name of only
// these would look empty, so it is refused like an empty one; mixed with
// visible characters they are kept (a ZWJ joins emoji, a ZWNJ shapes
// Persian).
func visible(r rune) bool {
	switch {
	case unicode.IsSpace(r), unicode.IsControl(r), r == '\u2800':
		return false
	case unicode.Is(unicode.Cf, r):
		return unicode.Is(unicode.Prepended_Concatenation_Mark, r)
	}
	return !unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}
