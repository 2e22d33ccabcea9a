package rediscache

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/headline/headline"
)

// Status is what a user:<id>:status entry holds: the account's status
// column, "1" (enabled) or "0" (disabled).
type Status uint8

const (
	StatusUnknown  Status = iota // not asked for, absent, or another value
	StatusEnabled                // "1"
	StatusDisabled               // "0": the Toutiao backend answers "User denied."
)

// decodeStatus reads a status entry; ok is false for anything but "0" or
// "1", which is then loaded again and overwritten.
func decodeStatus(v string) (s Status, ok bool) {
	switch v {
	case "1":
		return StatusEnabled, true
	case "0":
		return StatusDisabled, true
	}
	return StatusUnknown, false
}

func encodeStatus(disabled bool) string {
	if disabled {
		return "0"
	}
	return "1"
}

// MissingValue marks an id with no user (the Flask app's setex(key, ttl, -1)).
const MissingValue = "-1"

// Kind says what a cache entry held.
type Kind uint8

const (
	Miss    Kind = iota // absent, unreadable or of another shape: load it
	Hit                 // a profile
	Missing             // "-1": no such user
)

// cachedProfile is the JSON the Flask app writes: exactly these four keys.
// photo, intro and certi may be null.
type cachedProfile struct {
	Name  string  `json:"name"`
	Photo *string `json:"photo"`
	Intro *string `json:"intro"`
	Certi *string `json:"certi"`
}

// EncodeProfile renders u in the Flask app's format. Go's compact spelling is
// fine: Python's json.loads reads it.
func EncodeProfile(u *headline.User) []byte {
	b, err := json.Marshal(cachedProfile{Name: u.Name, Photo: u.Photo, Intro: u.Intro, Certi: u.Certi})
	if err != nil {
		// Marshalling strings and nil pointers cannot fail.
		panic(fmt.Sprintf("store: encode profile: %v", err))
	}
	return b
}

// maxProfileBytes bounds a profile entry. The longest value a writer of a
// user_basic row produces is Python's json.dumps of four strings at their
// column limits (32+128+50+30 characters), each character an astral one
// written as a surrogate pair of \uXXXX escapes (12 bytes): 2931 bytes with
// the keys and ", " and ": " separators. 4 KiB leaves room for another valid
// spelling (json.dumps with indent=4 is 2949) while a value beyond it cannot
// be a row of the table: decoding it would cost time and memory for every
// request and serve a name no one could have set.
const maxProfileBytes = 4 << 10

// decodeProfile reads a cache value written by the Flask app or by us. Any
// valid JSON spelling of the four-key object is accepted; anything else (a
// truncated value, another shape, extra or missing keys, a value over
// maxProfileBytes, invalid UTF-8, an escaped lone surrogate) is Miss, so
// the entry is loaded again and overwritten.
func decodeProfile(id headline.UserID, v string) (*headline.User, Kind) {
	if v == MissingValue {
		return nil, Missing
	}
	if len(v) > maxProfileBytes {
		return nil, Miss
	}
	if u, ok := decodeProfileFast(id, v); ok {
		return u, Hit
	}
	return decodeProfileJSON(id, v)
}

// decodeProfileJSON is decodeProfile through encoding/json: the reference,
// for every spelling the fast path leaves to it.
func decodeProfileJSON(id headline.UserID, v string) (*headline.User, Kind) {
	// encoding/json turns invalid UTF-8 and escaped lone surrogates into
	// U+FFFD, so it would serve a name the entry does not hold. Invalid UTF-8
	// makes the Flask app's json.loads fail; a lone surrogate it would read,
	// but no utf8mb4 column can hold one, so no row was cached as that
	// entry: both are loaded again from the row.
	if !utf8.ValidString(v) || hasLoneSurrogate(v) {
		return nil, Miss
	}
	// A map, not a struct: encoding/json matches struct fields without
	// regard to case, and "NAME" is not the Flask app's key. Exactly the
	// four keys, each once, or it is another writer's value.
	var raw map[string]json.RawMessage
	if json.Unmarshal([]byte(v), &raw) != nil || len(raw) != 4 {
		return nil, Miss
	}
	name, photo, intro, certi := raw["name"], raw["photo"], raw["intro"], raw["certi"]
	if name == nil || photo == nil || intro == nil || certi == nil {
		return nil, Miss
	}
	u := &headline.User{ID: id}
	if name[0] != '"' || json.Unmarshal(name, &u.Name) != nil {
		return nil, Miss
	}
	for _, f := range []struct {
		raw json.RawMessage
		dst **string
	}{{photo, &u.Photo}, {intro, &u.Intro}, {certi, &u.Certi}} {
		if string(f.raw) == "null" {
			continue
		}
		if f.raw[0] != '"' || json.Unmarshal(f.raw, f.dst) != nil {
			return nil, Miss
		}
	}
	return u, Hit
}

// hasLoneSurrogate reports whether the JSON text v escapes a UTF-16
// surrogate (\uD800–\uDFFF) other than as a high one directly followed by
// an escaped low one. In JSON a backslash only appears inside a string,
// starting an escape, so v is scanned without parsing it.
func hasLoneSurrogate(v string) bool {
	unit := func(i int) (rune, bool) { // the code unit of a \uXXXX at v[i]
		if i+6 > len(v) || v[i] != '\\' || v[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(v[i+2:i+6], 16, 16)
		return rune(n), err == nil
	}
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			continue
		}
		r, ok := unit(i)
		if !ok {
			i++ // a two-character escape, such as \\
			continue
		}
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		case r >= 0xD800 && r <= 0xDBFF:
			if lo, ok := unit(i + 6); !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 11
		default:
			i += 5
		}
	}
	return false
}

// decodeProfileFast reads the common spelling of a profile without
// encoding/json, which cost a map and a dozen allocations per entry on the
// hot path: an object of the four keys, each once, whose values are null or
// strings without escapes, control characters or invalid UTF-8 (which Go's
// compact writer produces for most names). On anything else it says !ok and
// decodeProfileJSON decides; when it says ok, decodeProfileJSON would have
// returned the same user (FuzzDecodeProfileFast checks this).
func decodeProfileFast(id headline.UserID, v string) (u *headline.User, ok bool) {
	s := scanner{v: v}
	u = &headline.User{ID: id}
	var seen uint8
	s.ws()
	if !s.eat('{') {
		return nil, false
	}
	for n := 0; n < 4; n++ {
		s.ws()
		if !s.member(u, &seen) {
			return nil, false
		}
		s.ws()
		end := byte(',')
		if n == 3 {
			end = '}'
		}
		if !s.eat(end) {
			return nil, false
		}
	}
	s.ws()
	return u, s.i == len(v) && seen == 15
}

// scanner reads the spelling decodeProfileFast takes, from v[i].
type scanner struct {
	v string
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.v) && (s.v[s.i] == ' ' || s.v[s.i] == '\t' || s.v[s.i] == '\n' || s.v[s.i] == '\r') {
		s.i++
	}
}

// eat reads the byte c.
func (s *scanner) eat(c byte) bool {
	if s.i >= len(s.v) || s.v[s.i] != c {
		return false
	}
	s.i++
	return true
}

// str reads a JSON string with no escapes and returns its content.
func (s *scanner) str() (string, bool) {
	if s.i >= len(s.v) || s.v[s.i] != '"' {
		return "", false
	}
	start := s.i + 1
	for j := start; j < len(s.v); j++ {
		switch c := s.v[j]; {
		case c == '"':
			str := s.v[start:j]
			if !utf8.ValidString(str) {
				return "", false
			}
			s.i = j + 1
			return str, true
		case c == '\\' || c < 0x20:
			return "", false
		}
	}
	return "", false
}

// member reads one "key": value of the four into u, and marks its bit in
// seen; it refuses another key, a key seen before, and a null name.
func (s *scanner) member(u *headline.User, seen *uint8) bool {
	key, ok := s.str()
	if !ok {
		return false
	}
	s.ws()
	if !s.eat(':') {
		return false
	}
	s.ws()
	var val *string
	if strings.HasPrefix(s.v[s.i:], "null") {
		s.i += len("null")
	} else {
		str, ok := s.str()
		if !ok {
			return false
		}
		val = &str
	}
	var bit uint8
	switch key {
	case "name":
		if val == nil {
			return false
		}
		bit, u.Name = 1, *val
	case "photo":
		bit, u.Photo = 2, val
	case "intro":
		bit, u.Intro = 4, val
	case "certi":
		bit, u.Certi = 8, val
	default:
		return false
	}
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}
