package rediscache

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/headline/headline"
	"github.com/headline/headline/store/storetest"
)

func ptr(s string) *string { return &s }

func (k Kind) String() string {
	switch k {
	case Miss:
		return "Miss"
	case Hit:
		return "Hit"
	case Missing:
		return "Missing"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// decodeCases are TestDecodeProfile's values, each read as user decodeID.
var decodeCases = []struct {
	name     string
	in       string
	want     *headline.User
	wantKind Kind
}{
	{
		name:     "reads Go's compact form",
		in:       `{"name":"x","photo":"p.png","intro":"hi","certi":"c"}`,
		want:     &headline.User{ID: decodeID, Name: "x", Photo: ptr("p.png"), Intro: ptr("hi"), Certi: ptr("c")},
		wantKind: Hit,
	},
	{
		name:     "reads Go's compact form with nulls",
		in:       `{"name":"x","photo":null,"intro":null,"certi":null}`,
		want:     &headline.User{ID: decodeID, Name: "x"},
		wantKind: Hit,
	},
	{
		name:     "reads Python's json.dumps form with \\u escapes",
		in:       `{"name": "\u5f20\u4e09", "photo": null, "intro": "hi", "certi": null}`,
		want:     &headline.User{ID: decodeID, Name: "张三", Intro: ptr("hi")},
		wantKind: Hit,
	},
	{
		name:     "reads escaped quotes, slashes and a surrogate pair",
		in:       `{"name": "a\"b\\c\/d", "photo": "http:\/\/x\/y.png", "intro": "\ud83d\ude00", "certi": "\u00e9"}`,
		want:     &headline.User{ID: decodeID, Name: `a"b\c/d`, Photo: ptr("http://x/y.png"), Intro: ptr("😀"), Certi: ptr("é")},
		wantKind: Hit,
	},
	{
		name:     "reads raw UTF-8",
		in:       `{"name":"张三","photo":null,"intro":"你好","certi":null}`,
		want:     &headline.User{ID: decodeID, Name: "张三", Intro: ptr("你好")},
		wantKind: Hit,
	},
	{
		name:     "reads keys in another order",
		in:       `{"certi": null, "intro": "i", "photo": "p", "name": "n"}`,
		want:     &headline.User{ID: decodeID, Name: "n", Photo: ptr("p"), Intro: ptr("i")},
		wantKind: Hit,
	},
	{
		name:     "reads surrounding whitespace and newlines",
		in:       " {\n  \"name\": \"x\",\n  \"photo\": null,\n  \"intro\": null,\n  \"certi\": null\n}\n",
		want:     &headline.User{ID: decodeID, Name: "x"},
		wantKind: Hit,
	},
	{
		name:     "reads an empty name and empty strings",
		in:       `{"name":"","photo":"","intro":"","certi":""}`,
		want:     &headline.User{ID: decodeID, Name: "", Photo: ptr(""), Intro: ptr(""), Certi: ptr("")},
		wantKind: Hit,
	},
	{
		name:     "takes the last of duplicated keys, as Python's json.loads does",
		in:       `{"name":"x","photo":null,"intro":null,"certi":null,"name":"y"}`,
		want:     &headline.User{ID: decodeID, Name: "y"},
		wantKind: Hit,
	},
	{name: "-1 is no such user", in: "-1", wantKind: Missing},

	{name: "a truncated value is a miss", in: `{"name":"x","photo":null,"intro":null,"cer`, wantKind: Miss},
	{name: "a value cut after the object's last key is a miss", in: `{"name":"x","photo":null,"intro":null,"certi":null`, wantKind: Miss},
	{name: "binary is a miss", in: "\x00\x01\xff\xfe\x80", wantKind: Miss},
	{name: "a pickled value is a miss", in: "\x80\x04\x95\x1b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x04name\x94", wantKind: Miss},
	{name: "a number name is a miss", in: `{"name":1,"photo":null,"intro":null,"certi":null}`, wantKind: Miss},
	{name: "a null name is a miss", in: `{"name":null,"photo":null,"intro":null,"certi":null}`, wantKind: Miss},
	{name: "an object name is a miss", in: `{"name":{},"photo":null,"intro":null,"certi":null}`, wantKind: Miss},
	{name: "a missing name is a miss", in: `{"photo":null,"intro":null,"certi":null}`, wantKind: Miss},
	{name: "a missing photo is a miss", in: `{"name":"x","intro":null,"certi":null}`, wantKind: Miss},
	{name: "a missing intro is a miss", in: `{"name":"x","photo":null,"certi":null}`, wantKind: Miss},
	{name: "a missing certi is a miss", in: `{"name":"x","photo":null,"intro":null}`, wantKind: Miss},
	{name: "a misspelt key among four is a miss", in: `{"name":"x","photo":null,"intro":null,"cert":null}`, wantKind: Miss},
	{name: "an extra key is a miss", in: `{"name":"x","photo":null,"intro":null,"certi":null,"id":7}`, wantKind: Miss},
	{name: "an empty object is a miss", in: `{}`, wantKind: Miss},
	{name: "an array is a miss", in: `["x",null,null,null]`, wantKind: Miss},
	{name: "a JSON null is a miss", in: `null`, wantKind: Miss},
	{name: "a JSON string is a miss", in: `"-1"`, wantKind: Miss},
	{name: "-2 is a miss", in: "-2", wantKind: Miss},
	{name: "-1 with a newline is a miss", in: "-1\n", wantKind: Miss},
	{name: "1 is a miss", in: "1", wantKind: Miss},
	{name: "a second document after the object is a miss", in: `{"name":"x","photo":null,"intro":null,"certi":null}{"name":"y","photo":null,"intro":null,"certi":null}`, wantKind: Miss},
	{name: "trailing garbage after the object is a miss", in: `{"name":"x","photo":null,"intro":null,"certi":null} x`, wantKind: Miss},
	{name: "a number photo is a miss", in: `{"name":"x","photo":1,"intro":null,"certi":null}`, wantKind: Miss},
	{name: "a boolean intro is a miss", in: `{"name":"x","photo":null,"intro":true,"certi":null}`, wantKind: Miss},
	{name: "an array certi is a miss", in: `{"name":"x","photo":null,"intro":null,"certi":["c"]}`, wantKind: Miss},
	{name: "the empty string is a miss", in: "", wantKind: Miss},
	{name: "whitespace is a miss", in: " ", wantKind: Miss},
	// Python's json.loads keeps keys as written, so the Flask app would
	// find no "name" in these; the contract says exactly the four keys.
	{name: "an upper-case key is a miss", in: `{"NAME":"x","photo":null,"intro":null,"certi":null}`, wantKind: Miss},
	{name: "a key differing only in case is an extra key and a miss", in: `{"name":"x","Name":"y","photo":null,"intro":null,"certi":null}`, wantKind: Miss},

	// Values that decode but must not be served: the Flask app's
	// json.loads fails on invalid UTF-8, encoding/json would turn it and
	// lone surrogates into U+FFFD, and no row is bigger than the bound.
	{name: "a name of 2 MB is a miss", in: `{"name":"` + strings.Repeat("x", 2<<20) + `","photo":null,"intro":null,"certi":null}`, wantKind: Miss},
	{name: "a value one byte over the bound is a miss", in: sizedProfile(maxProfileBytes + 1), wantKind: Miss},
	{name: "a value at the bound is read", in: sizedProfile(maxProfileBytes),
		want: &headline.User{ID: decodeID, Name: strings.Repeat("x", maxProfileBytes-len(sizedProfile(0)))}, wantKind: Hit},
	{name: "invalid UTF-8 in a name is a miss", in: "{\"name\":\"a\xffb\",\"photo\":null,\"intro\":null,\"certi\":null}", wantKind: Miss},
	{name: "invalid UTF-8 beside an escape is a miss", in: "{\"name\": \"\\u5f20\xc3\", \"photo\": null, \"intro\": null, \"certi\": null}", wantKind: Miss},
	{name: "a truncated 4-byte sequence in an intro is a miss", in: "{\"name\":\"x\",\"photo\":null,\"intro\":\"\xf0\x9f\x98\",\"certi\":null}", wantKind: Miss},
	{name: "a UTF-8-encoded surrogate in a photo is a miss", in: "{\"name\":\"x\",\"photo\":\"\xed\xa0\x80\",\"intro\":null,\"certi\":null}", wantKind: Miss},
	{name: "an escaped lone high surrogate is a miss", in: `{"name": "\ud800", "photo": null, "intro": null, "certi": null}`, wantKind: Miss},
	{name: "an escaped lone low surrogate is a miss", in: `{"name": "x", "photo": null, "intro": "a\udc00", "certi": null}`, wantKind: Miss},
	{name: "a high surrogate before a letter is a miss", in: `{"name": "\ud83dA", "photo": null, "intro": null, "certi": null}`, wantKind: Miss},
	{name: "a high surrogate before an escaped letter is a miss", in: `{"name": "\ud83d\u0041", "photo": null, "intro": null, "certi": null}`, wantKind: Miss},
	{name: "two high surrogates before a low one is a miss", in: `{"name": "\ud83d\ud83d\ude00", "photo": null, "intro": null, "certi": null}`, wantKind: Miss},
	{name: "a high surrogate ending a string is a miss", in: `{"name": "x", "photo": null, "intro": null, "certi": "\uD83D"}`, wantKind: Miss},
	{name: "an upper-case surrogate pair is read", in: `{"name": "\uD83D\uDE00", "photo": null, "intro": null, "certi": null}`,
		want: &headline.User{ID: decodeID, Name: "😀"}, wantKind: Hit},
	{name: "an escaped backslash before the letters ud800 is read", in: `{"name": "\\ud800", "photo": null, "intro": null, "certi": null}`,
		want: &headline.User{ID: decodeID, Name: `\ud800`}, wantKind: Hit},
	{name: "U+FFFD, raw and escaped, is read: it is a character", in: `{"name": "\ufffd�", "photo": null, "intro": null, "certi": null}`,
		want: &headline.User{ID: decodeID, Name: "\ufffd\ufffd"}, wantKind: Hit},
	{name: "Python's longest spelling of a row (2931 bytes) is read", in: pythonWorstCase(),
		want: &headline.User{ID: decodeID, Name: strings.Repeat("😀", 32), Photo: ptr(strings.Repeat("😀", 128)), Intro: ptr(strings.Repeat("😀", 50)), Certi: ptr(strings.Repeat("😀", 30))}, wantKind: Hit},
}

const decodeID = 7

func TestDecodeProfile(t *testing.T) {
	const id = decodeID
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			got, gotKind := decodeProfile(id, tc.in)
			if gotKind != tc.wantKind {
				t.Fatalf("decodeProfile(%q) kind = %v, want %v (user %s)", tc.in, gotKind, tc.wantKind, storetest.ShowUser(got))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("decodeProfile(%q) = %s, want %s", tc.in, storetest.ShowUser(got), storetest.ShowUser(tc.want))
			}
		})
	}
}

// sizedProfile is a well-formed profile of n bytes (at least its frame's),
// its name padded with x.
func sizedProfile(n int) string {
	const frame = `{"name":"","photo":null,"intro":null,"certi":null}`
	return `{"name":"` + strings.Repeat("x", max(0, n-len(frame))) + frame[len(`{"name":"`):]
}

// pythonWorstCase is json.dumps of a row whose columns are full of astral
// characters, each written as a surrogate pair of escapes.
func pythonWorstCase() string {
	s := func(n int) string { return `"` + strings.Repeat(`\ud83d\ude00`, n) + `"` }
	return `{"name": ` + s(32) + `, "photo": ` + s(128) + `, "intro": ` + s(50) + `, "certi": ` + s(30) + `}`
}

func TestMaxProfileBytes(t *testing.T) {
	if got := len(pythonWorstCase()); got != 2931 {
		t.Errorf("Python's worst case is %d bytes, want 2931 (python3 -c 'import json; print(len(json.dumps({k: chr(0x1F600)*n for k, n in "+
			"[(\"name\", 32), (\"photo\", 128), (\"intro\", 50), (\"certi\", 30)]})))')", got)
	}
	if len(pythonWorstCase()) > maxProfileBytes {
		t.Errorf("maxProfileBytes %d is below Python's worst case", maxProfileBytes)
	}
	// Go escapes <, >, & and U+2028 as six bytes: its worst row.
	full := func(n int) *string { s := strings.Repeat("<", n); return &s }
	u := &headline.User{ID: 1, Name: *full(32), Photo: full(128), Intro: full(50), Certi: full(30)}
	if enc := EncodeProfile(u); len(enc) > maxProfileBytes {
		t.Errorf("our own worst row encodes to %d bytes, over maxProfileBytes %d", len(enc), maxProfileBytes)
	} else if got, kind := decodeProfile(1, string(enc)); kind != Hit || !reflect.DeepEqual(got, u) {
		t.Errorf("our own worst row does not read back: %v %s", kind, storetest.ShowUser(got))
	}
}

func TestEncodeProfile(t *testing.T) {
	t.Run("writes NULL columns as null, exactly the four keys, compact", func(t *testing.T) {
		got := string(EncodeProfile(&headline.User{ID: 1, Name: "x"}))
		want := `{"name":"x","photo":null,"intro":null,"certi":null}`
		if got != want {
			t.Errorf("EncodeProfile = %s, want %s", got, want)
		}
	})

	t.Run("leaves the id out of the value", func(t *testing.T) {
		got := string(EncodeProfile(&headline.User{ID: 123456789, Name: "x", Photo: ptr("p"), Intro: ptr("i"), Certi: ptr("c")}))
		want := `{"name":"x","photo":"p","intro":"i","certi":"c"}`
		if got != want {
			t.Errorf("EncodeProfile = %s, want %s", got, want)
		}
	})

	for _, tc := range []struct {
		name string
		user headline.User
	}{
		{"nulls", headline.User{Name: "x"}},
		{"all set", headline.User{Name: "n", Photo: ptr("http://img/a.png"), Intro: ptr("intro"), Certi: ptr("certi")}},
		{"empty strings", headline.User{Name: "", Photo: ptr(""), Intro: ptr(""), Certi: ptr("")}},
		{"non-ASCII", headline.User{Name: "张三", Intro: ptr("你好，世界 😀"), Certi: ptr("é")}},
		{"HTML and JSON specials", headline.User{Name: `<b>&"x"</b>`, Photo: ptr(`a\b/c`), Intro: ptr("line\nnext\ttab\r"), Certi: ptr("\u2028\u2029\x00\x1f")}},
		{"-1 as a name", headline.User{Name: "-1", Photo: ptr("-1")}},
	} {
		t.Run("round-trips "+tc.name, func(t *testing.T) {
			const id = 99
			want := tc.user
			want.ID = id
			enc := EncodeProfile(&want)
			got, kind := decodeProfile(id, string(enc))
			if kind != Hit {
				t.Fatalf("decodeProfile(%s) kind = %v, want Hit", enc, kind)
			}
			if !reflect.DeepEqual(got, &want) {
				t.Errorf("decodeProfile(%s) = %s, want %s", enc, storetest.ShowUser(got), storetest.ShowUser(&want))
			}
		})
	}
}

func TestProfileKey(t *testing.T) {
	for _, tc := range []struct {
		id   headline.UserID
		want string
	}{
		{42, "user:42:info"},
		{1, "user:1:info"},
		{9223372036854775807, "user:9223372036854775807:info"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := ProfileKey(tc.id); got != tc.want {
				t.Errorf("ProfileKey(%d) = %q, want %q", tc.id, got, tc.want)
			}
		})
	}
}

func TestDraw(t *testing.T) {
	for _, tc := range []struct {
		name         string
		base, jitter time.Duration
	}{
		{"profile", 30 * time.Minute, 10 * time.Minute},
		{"missing", 5 * time.Minute, 60 * time.Second},
		{"two seconds of jitter", time.Minute, 2 * time.Second},
		{"a fractional jitter counts whole seconds", time.Minute, 3500 * time.Millisecond},
	} {
		t.Run(tc.name+" stays in [base, base+jitter) in whole seconds and varies", func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 2000 {
				got := draw(tc.base, tc.jitter)
				if got < tc.base || got >= tc.base+tc.jitter {
					t.Fatalf("draw(%v, %v) = %v, outside [base, base+jitter)", tc.base, tc.jitter, got)
				}
				if (got-tc.base)%time.Second != 0 {
					t.Fatalf("draw(%v, %v) = %v, jitter is not whole seconds", tc.base, tc.jitter, got)
				}
				seen[got] = true
			}
			// 2000 draws from n values: for n ≤ 60 all n turn up unless the
			// draw is broken (a miss has probability < n·(1-1/n)^2000 < 1e-13);
			// for n = 600 about 578 do, and fewer than 500 is far out of reach.
			n := int(tc.jitter / time.Second)
			want := n
			if n > 60 {
				want = n * 5 / 6
			}
			if got := len(seen); got < want {
				t.Errorf("2000 draws took %d distinct values of %d, want at least %d", got, n, want)
			}
		})
	}

	for _, jitter := range []time.Duration{0, -time.Second, time.Nanosecond, 999 * time.Millisecond, time.Second} {
		t.Run(fmt.Sprintf("jitter %v, at most a second, returns base", jitter), func(t *testing.T) {
			for range 100 {
				if got, want := draw(time.Minute, jitter), time.Minute; got != want {
					t.Fatalf("draw(1m, %v) = %v, want %v", jitter, got, want)
				}
			}
		})
	}
}

// profileTTLs are the fields of TTLs that profile entries use; TTLs may
// carry others.
type profileTTLs struct{ Profile, ProfileJitter, Missing, MissingJitter time.Duration }

func profileTTLsOf(t TTLs) profileTTLs {
	return profileTTLs{t.Profile, t.ProfileJitter, t.Missing, t.MissingJitter}
}

func TestTTLDefaults(t *testing.T) {
	contract := profileTTLs{Profile: 1800 * time.Second, ProfileJitter: 600 * time.Second, Missing: 300 * time.Second, MissingJitter: 60 * time.Second}
	t.Run("the defaults are the contract's", func(t *testing.T) {
		if got := profileTTLsOf(DefaultTTLs); got != contract {
			t.Errorf("DefaultTTLs = %+v, want %+v", got, contract)
		}
	})
	t.Run("zero TTLs take the defaults", func(t *testing.T) {
		if got := profileTTLsOf((TTLs{}).withDefaults()); got != contract {
			t.Errorf("TTLs{}.withDefaults() = %+v, want %+v", got, contract)
		}
		if got := profileTTLsOf(New(nil, TTLs{}).ttls); got != contract {
			t.Errorf("New(nil, TTLs{}).ttls = %+v, want %+v", got, contract)
		}
	})
	t.Run("negative TTLs take the defaults", func(t *testing.T) {
		in := TTLs{Profile: -1, ProfileJitter: -1, Missing: -1, MissingJitter: -1}
		if got := profileTTLsOf(in.withDefaults()); got != contract {
			t.Errorf("withDefaults() = %+v, want %+v", got, contract)
		}
	})
	t.Run("zero TTLs draw the contract's lifetimes", func(t *testing.T) {
		for range 100 {
			for _, d := range []struct {
				name          string
				got, min, max time.Duration
			}{
				{"DrawProfile", TTLs{}.DrawProfile(), 1800 * time.Second, 2399 * time.Second},
				{"DrawMissing", TTLs{}.DrawMissing(), 300 * time.Second, 359 * time.Second},
				{"DrawStatus", TTLs{}.DrawStatus(), 3600 * time.Second, 4199 * time.Second},
			} {
				if d.got < d.min || d.got > d.max || d.got%time.Second != 0 {
					t.Fatalf("TTLs{}.%s() = %v, want whole seconds in %v..%v", d.name, d.got, d.min, d.max)
				}
			}
		}
	})
	t.Run("set TTLs are kept", func(t *testing.T) {
		in := TTLs{Profile: time.Second, ProfileJitter: 2 * time.Second, Missing: 3 * time.Second, MissingJitter: 4 * time.Second}
		if got, want := profileTTLsOf(in.withDefaults()), profileTTLsOf(in); got != want {
			t.Errorf("withDefaults() = %+v, want %+v", got, want)
		}
	})
}

// referenceDecode reads v as the contract puts it, the way Python's
// json.loads sees it: a JSON object with exactly the keys name, photo, intro
// and certi (case-sensitive), name a string, the others strings or null; and
// servable: at most maxProfileBytes, valid UTF-8, every string's UTF-16
// code units well paired.
func referenceDecode(id headline.UserID, v string) (*headline.User, bool) {
	if len(v) > maxProfileBytes || !utf8.ValidString(v) || !surrogatesPaired(v) {
		return nil, false
	}
	var doc any
	if err := json.Unmarshal([]byte(v), &doc); err != nil {
		return nil, false
	}
	m, ok := doc.(map[string]any)
	if !ok || len(m) != 4 {
		return nil, false
	}
	u := &headline.User{ID: id}
	if u.Name, ok = m["name"].(string); !ok {
		return nil, false
	}
	for k, dst := range map[string]**string{"photo": &u.Photo, "intro": &u.Intro, "certi": &u.Certi} {
		switch x, present := m[k]; x := x.(type) {
		case nil:
			if !present {
				return nil, false
			}
		case string:
			*dst = &x
		default:
			return nil, false
		}
	}
	return u, true
}

func FuzzDecodeProfile(f *testing.F) {
	for _, s := range []string{
		`{"name":"x","photo":null,"intro":null,"certi":null}`,
		`{"name": "\u5f20\u4e09", "photo": null, "intro": "hi", "certi": null}`,
		`{"certi": "c", "intro": "\ud83d\ude00", "photo": "p", "name": "<&>\""}`,
		`{"name":"x","photo":null,"intro":null}`,
		`{"name":"x","photo":null,"intro":null,"certi":null,"id":1}`,
		`{"name":1,"photo":null,"intro":null,"certi":null}`,
		`{"name":"x","photo":null,"intro":null,"certi":null}{}`,
		`{"NAME":"x","photo":null,"intro":null,"certi":null}`,
		`["x"]`, "-1", "-2", "", "null", "\xff\xfe",
		`{"name":"\ud800","photo":"\xff","intro":null,"certi":null}`,
		`{"name":"\ud83d\ude00\\ud800","photo":"\udc00","intro":"\ud83dx","certi":null}`,
		"{\"name\":\"\xed\xa0\x80\",\"photo\":null,\"intro\":null,\"certi\":null}",
		sizedProfile(maxProfileBytes), sizedProfile(maxProfileBytes + 1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		const id = 12345
		u, kind := decodeProfile(id, v)
		// An independent reading of the contract must agree.
		if ref, ok := referenceDecode(id, v); ok != (kind == Hit) {
			t.Fatalf("decodeProfile(%q) kind = %v, but the value is %s a four-key profile", v, kind, map[bool]string{true: "", false: "not"}[ok])
		} else if ok && !reflect.DeepEqual(u, ref) {
			t.Fatalf("decodeProfile(%q) = %s, want %s", v, storetest.ShowUser(u), storetest.ShowUser(ref))
		}
		switch kind {
		case Miss, Missing:
			if u != nil {
				t.Fatalf("decodeProfile(%q) = %s with kind %v, want nil", v, storetest.ShowUser(u), kind)
			}
			if kind == Missing && v != "-1" {
				t.Fatalf("decodeProfile(%q) = Missing, want that only for -1", v)
			}
			return
		case Hit:
		default:
			t.Fatalf("decodeProfile(%q) kind = %v", v, kind)
		}
		if u == nil || u.ID != id {
			t.Fatalf("decodeProfile(%q) = %s, Hit; want a user with ID %d", v, storetest.ShowUser(u), id)
		}
		enc := EncodeProfile(u)
		if !strings.HasPrefix(string(enc), `{"name":`) {
			t.Fatalf("EncodeProfile(%s) = %s", storetest.ShowUser(u), enc)
		}
		if len(enc) > maxProfileBytes {
			// Go writes <, > and & as six bytes: a value under the bound
			// can grow over it, but only if it holds more than a row can.
			if fitsColumns(u) {
				t.Fatalf("EncodeProfile(%s) is %d bytes, over maxProfileBytes, for a profile that fits the table", storetest.ShowUser(u), len(enc))
			}
			return
		}
		again, kind := decodeProfile(id, string(enc))
		if kind != Hit {
			t.Fatalf("decodeProfile(EncodeProfile(%s) = %s) kind = %v, want Hit", storetest.ShowUser(u), enc, kind)
		}
		if !reflect.DeepEqual(again, u) {
			t.Fatalf("round trip of %q: %s → %s → %s", v, storetest.ShowUser(u), enc, storetest.ShowUser(again))
		}
	})
}

// fitsColumns reports whether u's fields fit user_basic's columns.
func fitsColumns(u *headline.User) bool {
	n := func(p *string) int {
		if p == nil {
			return 0
		}
		return utf8.RuneCountInString(*p)
	}
	return utf8.RuneCountInString(u.Name) <= 32 && n(u.Photo) <= 128 && n(u.Intro) <= 50 && n(u.Certi) <= 30
}

// surrogatesPaired reports whether every JSON string in v, read as the
// UTF-16 code units its characters and escapes stand for, pairs each
// surrogate. v that is not JSON may get any answer.
func surrogatesPaired(v string) bool {
	var units []uint16
	in := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case !in:
			in = c == '"'
			units = units[:0]
		case c == '"':
			in = false
			for k := 0; k < len(units); k++ {
				switch u := rune(units[k]); {
				case !utf16.IsSurrogate(u):
				case u < 0xDC00 && k+1 < len(units) && units[k+1] >= 0xDC00 && units[k+1] <= 0xDFFF:
					k++
				default:
					return false
				}
			}
		case c == '\\' && i+1 < len(v) && v[i+1] == 'u':
			if i+6 > len(v) {
				return true // not JSON
			}
			n, err := strconv.ParseUint(v[i+2:i+6], 16, 16)
			if err != nil {
				return true // not JSON
			}
			units = append(units, uint16(n))
			i += 5
		case c == '\\':
			units = append(units, 0) // a two-character escape: not a surrogate
			i++
		default:
			r, size := utf8.DecodeRuneInString(v[i:])
			units = utf16.AppendRune(units, r)
			i += size - 1
		}
	}
	return true
}
