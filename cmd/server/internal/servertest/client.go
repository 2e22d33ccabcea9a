package servertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

// GQLError is one error of a GraphQL response.
type GQLError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Response is a GraphQL response as a client reads it.
type Response struct {
	Status int
	Data   map[string]json.RawMessage `json:"data"`
	Errors []GQLError                 `json:"errors"`
	Raw    string
}

// Code returns the extensions.code of the error at path (e.g. "me",
// "users.2"), or "" when there is none.
func (r Response) Code(path string) string {
	for _, e := range r.Errors {
		if PathString(e.Path) == path {
			c, _ := e.Extensions["code"].(string)
			return c
		}
	}
	return ""
}

// ErrorAt returns the error at path, failing t when there is none.
func (r Response) ErrorAt(t testing.TB, path string) GQLError {
	t.Helper()
	for _, e := range r.Errors {
		if PathString(e.Path) == path {
			return e
		}
	}
	t.Fatalf("no error at %q: %s", path, r.Raw)
	return GQLError{}
}

// PathString renders an error's path as Code takes it: "users.2".
func PathString(p []any) string {
	parts := make([]string, len(p))
	for i, x := range p {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, ".")
}

// User decodes data[field] as a user, nil for null.
func (r Response) User(t testing.TB, field string) *User {
	t.Helper()
	raw, ok := r.Data[field]
	if !ok {
		t.Fatalf("no field %q in %s", field, r.Raw)
	}
	var u *User
	if err := json.Unmarshal(raw, &u); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return u
}

// Users decodes data[field] as a list of users, nil for each null.
func (r Response) Users(t testing.TB, field string) []*User {
	t.Helper()
	var us []*User
	if err := json.Unmarshal(r.Data[field], &us); err != nil {
		t.Fatalf("decode %s: %v (%s)", field, err, r.Raw)
	}
	return us
}

// User is a user as the API answers it.
type User struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Photo *string `json:"photo"`
	Intro *string `json:"intro"`
	Certi *string `json:"certi"`
}

// Post sends a GraphQL POST to base's /graphql with optional headers (name,
// value pairs).
func Post(t testing.TB, base, query string, vars map[string]any, headers ...string) Response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return Do(t, req)
}

// Send sends req and returns the response with its body read (and closed).
func Send(t testing.TB, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// Get is Send for GET url.
func Get(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return Send(t, req)
}

// RawResponse sends req and returns the status, Content-Type and body.
func RawResponse(t testing.TB, req *http.Request) (int, string, string) {
	t.Helper()
	resp, body := Send(t, req)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// Do sends req and decodes the GraphQL response.
func Do(t testing.TB, req *http.Request) Response {
	t.Helper()
	status, _, body := RawResponse(t, req)
	r := Response{Status: status, Raw: body}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, body)
	}
	return r
}

// Probe is one GET of a health endpoint.
type Probe struct {
	Status int
	Body   string
}

// GetProbe GETs url.
func GetProbe(t testing.TB, url string) Probe {
	t.Helper()
	resp, body := Get(t, url)
	return Probe{resp.StatusCode, body}
}

// IDList renders ids as a GraphQL list literal.
func IDList(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%q", fmt.Sprint(id))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// Ptr returns a pointer to s.
func Ptr(s string) *string { return &s }

// SeqUsers makes n users with ids from first, with every optional field set
// on even ids and none on odd ones.
func SeqUsers(first int64, n int) []headline.User {
	us := make([]headline.User, n)
	for i := range us {
		id := first + int64(i)
		us[i] = headline.User{ID: id, Name: fmt.Sprintf("u%d", id)}
		if id%2 == 0 {
			us[i].Photo = Ptr(fmt.Sprintf("https://img.example.com/%d.png", id))
			us[i].Intro = Ptr("intro " + fmt.Sprint(id))
			us[i].Certi = Ptr("certi")
		}
	}
	return us
}

// CachedInfo reads user:<id>:info as the Flask app would; ok is false when
// the key is absent.
func CachedInfo(t testing.TB, rdb *redis.Client, id int64) (p User, raw string, ok bool) {
	t.Helper()
	raw, err := rdb.Get(context.Background(), rediscache.ProfileKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return p, "", false
	}
	if err != nil {
		t.Fatalf("GET %s: %v", rediscache.ProfileKey(id), err)
	}
	var m map[string]*string
	if err := json.Unmarshal([]byte(raw), &m); err != nil || len(m) != 4 || m["name"] == nil {
		t.Fatalf("%s = %s: not the Flask format", rediscache.ProfileKey(id), raw)
	}
	return User{ID: strconv.FormatInt(id, 10), Name: *m["name"], Photo: m["photo"], Intro: m["intro"], Certi: m["certi"]}, raw, true
}

// OddIDs is storetest.IDs(t, n) with an odd first id. SeqUsers gives odd
// ids none of the optional fields and even ids all of them, so a test that
// says which of its users have them needs its ids' parity.
func OddIDs(t testing.TB, n int) int64 {
	t.Helper()
	first := storetest.IDs(t, n+1)
	if first%2 == 0 {
		first++
	}
	return first
}
