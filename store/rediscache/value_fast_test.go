package rediscache

import (
	"reflect"
	"testing"

	"github.com/headline/headline"
)

var fastSeeds = []string{
	`{"name":"x","photo":null,"intro":null,"certi":null}`,
	`{"name": "张三", "photo": "https://a/b.png", "intro": "hi", "certi": null}`,
	` { "certi" : "c" , "intro" : null , "photo" : null , "name" : "n" } `,
	`{"name":"a","name":"b","photo":null,"intro":null}`,
	`{"name":"x","photo":null,"intro":null,"certi":null,"extra":1}`,
	`{"name":"x","photo":null,"intro":null}`,
	`{"name":null,"photo":null,"intro":null,"certi":null}`,
	`{"name":"a\"b","photo":null,"intro":null,"certi":null}`,
	`{"name":"x","photo":nullx,"intro":null,"certi":null}`,
	"{\"name\":\"\xff\",\"photo\":null,\"intro\":null,\"certi\":null}",
	"{\"name\":\"a\tb\",\"photo\":null,\"intro\":null,\"certi\":null}",
	`{"NAME":"x","photo":null,"intro":null,"certi":null}`,
	`{"name":"x","photo":null,"intro":null,"certi":null}}`,
	`{"name":"x","photo":null,"intro":null,"certi":null`,
	`{"name":"x" "photo":null,"intro":null,"certi":null}`,
	`{"name":"","photo":"","intro":"","certi":""}`,
}

func TestDecodeProfileFastTakesTheCommonSpellings(t *testing.T) {
	for _, v := range []string{fastSeeds[0], fastSeeds[1], fastSeeds[2], fastSeeds[15]} {
		if _, ok := decodeProfileFast(1, v); !ok {
			t.Errorf("fast path refused %q, which it should read", v)
		}
	}
	if _, ok := decodeProfileFast(1, `{"name":"\u5f20","photo":null,"intro":null,"certi":null}`); ok {
		t.Error("fast path took an escaped string; escapes are left to encoding/json")
	}
}

// FuzzDecodeProfileFast checks the fast path against encoding/json: whenever
// it reads a value, the reference reads the same user.
func FuzzDecodeProfileFast(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		fast, ok := decodeProfileFast(7, v)
		if !ok {
			return
		}
		ref, kind := decodeProfileJSON(7, v)
		if kind != Hit {
			t.Fatalf("fast path read %q, which encoding/json calls kind %d", v, kind)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Fatalf("%q: fast %+v, reference %+v", v, fast, ref)
		}
	})
}

func BenchmarkDecodeProfile(b *testing.B) {
	v := string(EncodeProfile(&headline.User{ID: 1, Name: "张三", Photo: ptr("https://img.example.com/1.png"), Intro: ptr("hello there")}))
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			decodeProfile(1, v)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			decodeProfileJSON(1, v)
		}
	})
}
