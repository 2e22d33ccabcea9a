package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/headline/headline/cmd/server/internal/servertest"
)

// The load driver of the fault suite: N clients in a closed loop against a
// running server over loopback, each sending user(id:) or users(ids:) for
// random ids, every answer checked against what MySQL holds.

const (
	loadClients  = 32
	loadDuration = 2 * time.Second
	// soakEnv lengthens every load of the fault suite, e.g. HEADLINE_SOAK=60s.
	soakEnv = "HEADLINE_SOAK"
)

// loadTime is how long one load of a scenario runs: loadDuration, or
// HEADLINE_SOAK when set.
func loadTime(t testing.TB) time.Duration {
	t.Helper()
	v := os.Getenv(soakEnv)
	if v == "" {
		return loadDuration
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a duration such as 60s", soakEnv, v)
	}
	return d
}

// wantUser is a user as MySQL holds it; the load checks these fields.
type wantUser struct {
	name  string
	photo *string
}

// verdict is how one id of one answer is judged.
type verdict uint8

const (
	verdictOK     verdict = iota
	verdictWrong          // answered, but not what MySQL holds
	verdictFailed         // not answered: an error where none is expected
)

// answer is what one answer says about one id: a user, null, or an error.
type answer struct {
	user    *servertest.User
	err     *servertest.GQLError // nil: none at this id's path
	present bool                 // the data held this position (null counts)
}

// judgeFunc judges the answer for id; raw is the whole response body.
type judgeFunc func(id int64, a answer, raw string) verdict

// expectAll is the default judge: every id answered, without error, as
// MySQL holds it (null for an id with no user).
func expectAll(want map[int64]wantUser) judgeFunc {
	return func(id int64, a answer, _ string) verdict {
		if a.err != nil || !a.present {
			return verdictFailed
		}
		return matches(want, id, a.user)
	}
}

// matches compares an answered user with MySQL's.
func matches(want map[int64]wantUser, id int64, got *servertest.User) verdict {
	w, exists := want[id]
	switch {
	case !exists && got == nil:
		return verdictOK
	case !exists || got == nil:
		return verdictWrong
	case got.ID != fmt.Sprint(id) || got.Name != w.name || !equalPtr(got.Photo, w.photo):
		return verdictWrong
	}
	return verdictOK
}

func equalPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// pickFunc chooses the ids of one request: one id is sent as user(id:),
// more as users(ids:).
type pickFunc func(r *rand.Rand) []int64

// mixedPick asks, half of the time, for one id and otherwise for 2 to 8
// distinct ids, all drawn from pool.
func mixedPick(pool []int64) pickFunc {
	return func(r *rand.Rand) []int64 {
		n := 1
		if r.IntN(2) == 1 {
			n = 2 + r.IntN(7)
		}
		n = min(n, len(pool))
		ids := make([]int64, 0, n)
		for len(ids) < n {
			id := pool[r.IntN(len(pool))]
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		return ids
	}
}

// load describes one run of the driver.
type load struct {
	url      string // base URL of the server, http://host:port
	clients  int
	duration time.Duration
	pick     pickFunc
	judge    judgeFunc
	seed     uint64
	// gate, when set, is called by a client before each request; it may
	// block, and returns false to end that client.
	gate func() bool
}

// record is one request of a load.
type record struct {
	start, end time.Time
	verdict    verdict
	transport  bool   // failed below HTTP (dial, reset, timeout)
	detail     string // for failures and wrong answers
}

// loadResult is what a load measured.
type loadResult struct {
	requests, failures, wrong int
	p50, p99, max             time.Duration
	records                   []record
}

// samples returns up to n details of failed or wrong requests.
func (r loadResult) samples(n int) string {
	var out []string
	for _, rec := range r.records {
		if rec.verdict != verdictOK && len(out) < n {
			out = append(out, rec.detail)
		}
	}
	return strings.Join(out, "\n")
}

func (r loadResult) String() string {
	return fmt.Sprintf("requests=%d failures=%d wrong=%d p50=%v p99=%v max=%v",
		r.requests, r.failures, r.wrong, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.max.Round(10*time.Microsecond))
}

// summarize computes counts and percentiles over records.
func summarize(records []record) loadResult {
	res := loadResult{records: records, requests: len(records)}
	lat := make([]time.Duration, 0, len(records))
	for _, rec := range records {
		switch rec.verdict {
		case verdictFailed:
			res.failures++
		case verdictWrong:
			res.wrong++
		}
		lat = append(lat, rec.end.Sub(rec.start))
	}
	if len(lat) == 0 {
		return res
	}
	slices.Sort(lat)
	res.p50 = lat[(len(lat)-1)/2]
	res.p99 = lat[(len(lat)*99+99)/100-1]
	res.max = lat[len(lat)-1]
	return res
}

const (
	userQuery  = `query($id: ID!) { user(id: $id) { id name photo } }`
	usersQuery = `query($ids: [ID!]!) { users(ids: $ids) { id name photo } }`
)

// run drives the load until its duration is over (or every client's gate
// said stop) and returns what it measured.
func (l load) run() loadResult {
	if l.clients == 0 {
		l.clients = loadClients
	}
	tr := &http.Transport{MaxIdleConnsPerHost: l.clients, MaxIdleConns: l.clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 15 * time.Second}

	var mu sync.Mutex
	var records []record
	var wg sync.WaitGroup
	end := time.Now().Add(l.duration)
	for c := range l.clients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(l.seed, uint64(c)))
			var mine []record
			for time.Now().Before(end) {
				if l.gate != nil && !l.gate() {
					break
				}
				rec := l.one(client, l.pick(r))
				mine = append(mine, rec)
				if rec.transport {
					// Refused or reset: do not spin on a server that is gone.
					time.Sleep(10 * time.Millisecond)
				}
			}
			mu.Lock()
			records = append(records, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return summarize(records)
}

// one sends one request for ids and judges the answer.
func (l load) one(client *http.Client, ids []int64) record {
	var body []byte
	if len(ids) == 1 {
		body, _ = json.Marshal(map[string]any{"query": userQuery, "variables": map[string]any{"id": fmt.Sprint(ids[0])}})
	} else {
		strs := make([]string, len(ids))
		for i, id := range ids {
			strs[i] = fmt.Sprint(id)
		}
		body, _ = json.Marshal(map[string]any{"query": usersQuery, "variables": map[string]any{"ids": strs}})
	}
	rec := record{start: time.Now()}
	fail := func(v verdict, transport bool, format string, args ...any) record {
		rec.end = time.Now()
		rec.verdict, rec.transport = v, transport
		rec.detail = fmt.Sprintf("ids %v: ", ids) + fmt.Sprintf(format, args...)
		return rec
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, l.url+"/graphql", bytes.NewReader(body))
	if err != nil {
		return fail(verdictFailed, true, "%v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fail(verdictFailed, true, "%v", err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fail(verdictFailed, true, "read body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fail(verdictFailed, false, "status %d: %s", resp.StatusCode, raw)
	}
	var r struct {
		Data   map[string]json.RawMessage `json:"data"`
		Errors []servertest.GQLError      `json:"errors"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return fail(verdictFailed, false, "not JSON: %v: %s", err, raw)
	}

	answers, used := answersOf(ids, r.Data, r.Errors)
	if used != len(r.Errors) {
		return fail(verdictFailed, false, "errors at no id's path: %s", raw)
	}
	worst := verdictOK
	for i, id := range ids {
		worst = max(worst, l.judge(id, answers[i], string(raw)))
	}
	if worst != verdictOK {
		return fail(worst, false, "%s", raw)
	}
	rec.end = time.Now()
	return rec
}

// answersOf is one answer per id, from data and from the errors at its
// path, and how many of the errors were at an id's path.
func answersOf(ids []int64, data map[string]json.RawMessage, errs []servertest.GQLError) (answers []answer, used int) {
	answers = make([]answer, len(ids))
	errAt := map[string]*servertest.GQLError{}
	for i := range errs {
		errAt[servertest.PathString(errs[i].Path)] = &errs[i]
	}
	if len(ids) == 1 {
		a := &answers[0]
		if d, ok := data["user"]; ok {
			a.present = json.Unmarshal(d, &a.user) == nil
		}
		if a.err = errAt["user"]; a.err != nil {
			used++
		}
		return answers, used
	}
	var us []*servertest.User
	if d, ok := data["users"]; ok && json.Unmarshal(d, &us) == nil && len(us) == len(ids) {
		for i := range us {
			answers[i].user, answers[i].present = us[i], true
		}
	}
	for i := range ids {
		if answers[i].err = errAt[fmt.Sprintf("users.%d", i)]; answers[i].err != nil {
			used++
		}
	}
	return answers, used
}
