package headline

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParseUserID(t *testing.T) {
	valid := []struct {
		in   string
		want UserID
	}{
		{"1", 1},
		{"42", 42},
		{"9223372036854775807", 9223372036854775807},
		{"007", 7},
		{"0000000000000000001", 1}, // 19 characters, the longest accepted
	}
	for _, tc := range valid {
		t.Run("accepts "+strconv.Quote(tc.in), func(t *testing.T) {
			got, err := ParseUserID("id", tc.in)
			if err != nil {
				t.Fatalf("ParseUserID(%q) error = %v, want nil", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseUserID(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}

	invalid := []struct {
		name string
		in   string
	}{
		{"letters", "abc"},
		{"digits then letters", "12ab"},
		{"a plus sign", "+1"},
		{"a minus sign", "-1"},
		{"zero", "0"},
		{"only zeros", "000"},
		{"2^63, one past the largest", "9223372036854775808"},
		{"twenty digits", "99999999999999999999"},
		{"a leading space", " 1"},
		{"a trailing space", "1 "},
		{"a trailing newline", "1\n"},
		{"the empty string", ""},
		{"full-width digits", "１２"},
		{"Arabic-Indic digits", "١٢"},
		{"an exponent", "1e3"},
		{"hex", "0x10"},
		{"a decimal point", "1.0"},
		{"an underscore", "1_000"},
		{"a NUL byte", "1\x00"},
	}
	for _, tc := range invalid {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			got, err := ParseUserID("ids", tc.in)
			if err == nil {
				t.Fatalf("ParseUserID(%q) = %d, nil; want a BAD_USER_INPUT error", tc.in, got)
			}
			if got != 0 {
				t.Errorf("ParseUserID(%q) id = %d with an error, want 0", tc.in, got)
			}
			checkBadInput(t, err, "ids")
		})
	}
}

func TestParseUserIDErrors(t *testing.T) {
	t.Run("names the given field in the error", func(t *testing.T) {
		for _, field := range []string{"id", "ids", "input.userId"} {
			_, err := ParseUserID(field, "x")
			checkBadInput(t, err, field)
			if !strings.HasPrefix(err.Error(), field+": ") {
				t.Errorf("message %q does not start with the field %q", err.Error(), field)
			}
		}
	})

	t.Run("echoes a short bad value whole", func(t *testing.T) {
		_, err := ParseUserID("id", "abc")
		if !strings.Contains(err.Error(), `"abc"`) {
			t.Errorf("message %q does not quote the value", err.Error())
		}
	})

	t.Run("truncates an echoed huge value", func(t *testing.T) {
		for _, in := range []string{
			strings.Repeat("9", 10000),
			strings.Repeat("a", 10000),
			strings.Repeat("张", 1000), // truncation may split a rune; %q must still quote it
		} {
			_, err := ParseUserID("id", in)
			checkBadInput(t, err, "id")
			msg := err.Error()
			if len(msg) > 200 {
				t.Errorf("message is %d bytes, want it short: %.80q…", len(msg), msg)
			}
			if strings.Contains(msg, in[:64]) {
				t.Errorf("message echoes more than 32 bytes of the value: %.80q…", msg)
			}
			if !strings.Contains(msg, "…") {
				t.Errorf("message %q does not mark the value as truncated", msg)
			}
		}
	})
}

// checkBadInput fails t unless err is a *Error with code BAD_USER_INPUT
// naming field.
func checkBadInput(t *testing.T, err error, field string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v, want a *headline.Error", err, err)
	}
	if got, want := e.Code, ECodeBadInput; got != want {
		t.Errorf("Code = %q, want %q", got, want)
	}
	if got, want := e.Field, field; got != want {
		t.Errorf("Field = %q, want %q", got, want)
	}
}

func FuzzParseUserID(f *testing.F) {
	for _, s := range []string{
		"1", "42", "007", "0", "-1", "+1", " 1", "1 ", "", "１２", "1e3", "0x10", "1.0",
		"9223372036854775807", "9223372036854775808", "99999999999999999999",
		"0000000000000000001", "00000000000000000001",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseUserID("id", s)
		if err != nil {
			if e, ok := errors.AsType[*Error](err); !ok || e.Code != ECodeBadInput {
				t.Fatalf("ParseUserID(%q) error = %v, want a *headline.Error with code %q", s, err, ECodeBadInput)
			}
			if id != 0 {
				t.Fatalf("ParseUserID(%q) = %d with an error, want 0", s, id)
			}
			return
		}
		if id < 1 {
			t.Fatalf("ParseUserID(%q) = %d, want ≥ 1", s, id)
		}
		if got, want := strconv.FormatInt(id, 10), strings.TrimLeft(s, "0"); got != want {
			t.Fatalf("ParseUserID(%q) = %s, want %s (the input without leading zeros)", s, got, want)
		}
	})
}
