package graph_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/headline/headline/graph"
)

func TestExcerpt(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		cut      bool
	}{
		{"a short message is kept", `Cannot query field "nme" on type "User". Did you mean "name"?`, false},
		{"160 bytes are kept", strings.Repeat("x", 160), false},
		{"161 bytes are cut", strings.Repeat("x", 161), true},
		{"1 MiB of 2-byte runes are cut between runes", strings.Repeat("é", 1<<19), true},
		{"1 MiB of 3-byte runes are cut between runes", "a" + strings.Repeat("名", 1<<18), true},
		{"1 MiB of 4-byte runes are cut between runes", "ab" + strings.Repeat("𝄞", 1<<18) + "c", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := graph.Excerpt(tc.in)
			if !tc.cut {
				if got != tc.in {
					t.Errorf("got %q, want it unchanged", got)
				}
				return
			}
			if !utf8.ValidString(got) {
				t.Errorf("not valid UTF-8: %q", got)
			}
			if len(got) > 96+len("…")+32 {
				t.Errorf("%d bytes, want at most %d: %q", len(got), 96+len("…")+32, got)
			}
			head, tail, ok := strings.Cut(got, "…")
			if !ok || !strings.HasPrefix(tc.in, head) || !strings.HasSuffix(tc.in, tail) || len(head) < 93 || len(tail) < 29 {
				t.Errorf("want the start and end of the input around an ellipsis, got %q", got)
			}
		})
	}
}
