package store

import (
	"testing"

	"github.com/headline/headline"
	"github.com/headline/headline/store/storetest"
)

func TestCompactKeepsTheProfile(t *testing.T) {
	str := func(s string) *string { return &s }
	for _, u := range []*headline.User{
		{ID: 1, Name: "bob"},
		{ID: 2, Name: "ünï 中文 🎉", Photo: str("http://x/p.png"), Intro: str(""), Certi: str("认证")},
		{ID: 3, Name: "", Intro: str("only intro")},
		{ID: 4, Name: "a", Photo: str("p"), Certi: str("c")},
	} {
		c := compact(u)
		if c == u {
			t.Fatalf("compact(%d) returned the same user", u.ID)
		}
		if got, want := storetest.ShowUser(c), storetest.ShowUser(u); got != want {
			t.Errorf("compact(%d) = %s, want %s", u.ID, got, want)
		}
		for i, f := range [][2]*string{{c.Photo, u.Photo}, {c.Intro, u.Intro}, {c.Certi, u.Certi}} {
			if f[0] != nil && f[0] == f[1] {
				t.Errorf("compact(%d): field %d shares the decoder's string header", u.ID, i)
			}
		}
		// The user and its headers, and its text: two allocations.
		if n := testing.AllocsPerRun(100, func() { compact(u) }); n > 2 {
			t.Errorf("compact(%d) allocates %v times, want at most 2", u.ID, n)
		}
	}
	if compact(nil) != nil {
		t.Error("compact(nil) is not nil")
	}
}
