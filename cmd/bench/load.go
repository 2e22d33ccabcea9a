package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// GraphQL documents. Ids go in variables, as a client sends them, so the
// document is parsed once and then found in headline's query cache.
const (
	profileFields = "{ id name photo intro certi }"
	userQuery     = "query($id: ID!) { user(id: $id) " + profileFields + " }"
	meQuery       = "{ me " + profileFields + " }"
	usersQuery    = "query($ids: [ID!]!) { users(ids: $ids) " + profileFields + " }"
	feedSize      = 20
)

// aliasQuery is the feed as feedSize aliased user fields.
var aliasQuery = func() string {
	var b strings.Builder
	b.WriteString("query(")
	for i := range feedSize {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$i" + strconv.Itoa(i) + ": ID!")
	}
	b.WriteString(") {")
	for i := range feedSize {
		b.WriteString(" u" + strconv.Itoa(i) + ": user(id: $i" + strconv.Itoa(i) + ") " + profileFields)
	}
	b.WriteString(" }")
	return b.String()
}()

// graphqlBody is a POST /graphql body; vars is the JSON object of variables.
func graphqlBody(query, vars string) []byte {
	b := make([]byte, 0, len(query)+len(vars)+32)
	b = append(b, `{"query":`...)
	b = strconv.AppendQuote(b, query)
	if vars != "" {
		b = append(b, `,"variables":`...)
		b = append(b, vars...)
	}
	return append(b, '}')
}

// idSource hands out user ids for one run: take returns the n ids of one
// request, or false when the source ran out.
type idSource interface{ take(n int) ([]int, bool) }

// draw takes n ids from next, one at a time.
func draw(next func() (int, bool), n int) ([]int, bool) {
	ids := make([]int, n)
	for i := range ids {
		id, ok := next()
		if !ok {
			return nil, false
		}
		ids[i] = id
	}
	return ids, true
}

// randomIDs draws uniformly from lo…hi, a different draw every time.
type randomIDs struct{ lo, hi int }

func (r randomIDs) next() (int, bool) { return r.lo + rand.IntN(r.hi-r.lo+1), true }

func (r randomIDs) take(n int) ([]int, bool) { return draw(r.next, n) }

// freshIDs hands out lo…hi in a random order, each once, so that every
// lookup of a cold run is a miss; when they run out, the run ends.
type freshIDs struct {
	mu   sync.Mutex
	perm []int
}

func newFreshIDs(lo, hi int) *freshIDs {
	p := make([]int, hi-lo+1)
	for i := range p {
		p[i] = lo + i
	}
	rand.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
	return &freshIDs{perm: p}
}

func (f *freshIDs) next() (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.perm) == 0 {
		return 0, false
	}
	id := f.perm[len(f.perm)-1]
	f.perm = f.perm[:len(f.perm)-1]
	return id, true
}

func (f *freshIDs) take(n int) ([]int, bool) { return draw(f.next, n) }

// fixedIDs is the same ids in every request (the hot-key scenario): a
// request for as many ids gets them all, in their order; one for another
// number draws from them.
type fixedIDs []int

func (f fixedIDs) next() (int, bool) { return f[rand.IntN(len(f))], true }

func (f fixedIDs) take(n int) ([]int, bool) {
	if n == len(f) {
		return f, true
	}
	return draw(f.next, n)
}

// request kinds, each with a headline and a Flask form.
type kind int

const (
	kindUser    kind = iota // headline user(id)            Flask /v1_0/users/<id>
	kindMe                  // headline me                  Flask /v1_0/user
	kindFeed                // headline users(ids:)         Flask /v1_0/authors?ids=
	kindAliases             // headline 20 × user(id)       Flask /v1_0/authors?ids=
)

// targeter builds the vegeta targeter of one run: every request draws its
// own ids from src.
func targeter(srv *process, k kind, src idSource, token string) vegeta.Targeter {
	hl := srv.name == "headline"
	hdr := http.Header{}
	if hl {
		hdr.Set("Content-Type", "application/json")
	}
	if k == kindMe {
		hdr.Set("Authorization", "Bearer "+token)
	}
	return func(t *vegeta.Target) error {
		t.Header = hdr
		n := 1
		if k == kindFeed || k == kindAliases {
			n = feedSize
		}
		var ids []int
		if k != kindMe {
			var ok bool
			if ids, ok = src.take(n); !ok {
				return vegeta.ErrNoTargets
			}
		}
		if !hl {
			t.Method = http.MethodGet
			switch k {
			case kindUser:
				t.URL = srv.base + "/v1_0/users/" + strconv.Itoa(ids[0])
			case kindMe:
				t.URL = srv.base + "/v1_0/user"
			default:
				t.URL = srv.base + "/v1_0/authors?ids=" + joinIDs(ids, ",", "")
			}
			return nil
		}
		t.Method, t.URL = http.MethodPost, srv.base+"/graphql"
		switch k {
		case kindUser:
			t.Body = graphqlBody(userQuery, `{"id":"`+strconv.Itoa(ids[0])+`"}`)
		case kindMe:
			t.Body = graphqlBody(meQuery, "")
		case kindFeed:
			t.Body = graphqlBody(usersQuery, `{"ids":[`+joinIDs(ids, ",", `"`)+`]}`)
		case kindAliases:
			var b strings.Builder
			b.WriteByte('{')
			for i, id := range ids {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(`"i` + strconv.Itoa(i) + `":"` + strconv.Itoa(id) + `"`)
			}
			b.WriteByte('}')
			t.Body = graphqlBody(aliasQuery, b.String())
		}
		return nil
	}
}

func joinIDs(ids []int, sep, quote string) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(quote + strconv.Itoa(id) + quote)
	}
	return b.String()
}

// loadResult is what vegeta saw in one run.
type loadResult struct {
	requests  int // completed, good or not
	errors    int
	errSample []string
	elapsed   time.Duration
	p50, p99  time.Duration
}

func (l loadResult) rps() float64 {
	if l.elapsed <= 0 {
		return 0
	}
	return float64(l.requests) / l.elapsed.Seconds()
}

// attack runs one closed-loop load: conc workers, each sending its next
// request when the last one is answered, for d (or until the targeter runs
// out). ok decides whether an answer is the expected one.
func attack(ctx context.Context, tr vegeta.Targeter, conc int, d time.Duration, keepAlive bool, ok func(*vegeta.Result) bool) loadResult {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: conc,
		DisableKeepAlives:   !keepAlive, // sends Connection: close
		DisableCompression:  true,
	}
	defer transport.CloseIdleConnections()
	atk := vegeta.NewAttacker(
		vegeta.Client(&http.Client{Timeout: 10 * time.Second, Transport: transport}),
		vegeta.Workers(uint64(conc)), vegeta.MaxWorkers(uint64(conc)),
		vegeta.MaxBody(1<<20),
	)
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			atk.Stop()
		case <-stopped:
		}
	}()
	var res loadResult
	lat := make([]time.Duration, 0, 1<<16)
	seen := map[string]bool{}
	start := time.Now()
	// A zero ConstantPacer is "as fast as the workers go".
	for r := range atk.Attack(tr, vegeta.ConstantPacer{}, d, "") {
		if r.Error == vegeta.ErrNoTargets.Error() {
			continue
		}
		res.requests++
		lat = append(lat, r.Latency)
		if !ok(r) {
			res.errors++
			msg := r.Error
			if msg == "" {
				msg = strconv.Itoa(int(r.Code)) + " " + string(r.Body[:min(len(r.Body), 200)])
			}
			if !seen[msg] && len(seen) < 3 {
				seen[msg] = true
				res.errSample = append(res.errSample, msg)
			}
		}
	}
	res.elapsed = time.Since(start)
	res.p50, res.p99 = percentile(lat, 0.50), percentile(lat, 0.99)
	return res
}

// percentile is the nearest-rank percentile of the latencies (sorted in
// place).
func percentile(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	if !slices.IsSorted(lat) {
		slices.Sort(lat)
	}
	i := int(q*float64(len(lat))+0.999999) - 1
	return lat[max(0, min(i, len(lat)-1))]
}

// answerOK is the check of a headline answer (200 without GraphQL errors)
// or of a Flask one (the status it should be).
func answerOK(srv *process, flaskStatus int) func(*vegeta.Result) bool {
	if srv.name == "headline" {
		return func(r *vegeta.Result) bool {
			return r.Code == http.StatusOK && !bytes.Contains(r.Body, []byte(`"errors"`))
		}
	}
	return func(r *vegeta.Result) bool { return int(r.Code) == flaskStatus }
}

// once sends one request of kind k and checks its answer.
func once(ctx context.Context, srv *process, k kind, token string) error {
	var t vegeta.Target
	if err := targeter(srv, k, randomIDs{1, 1}, token)(&t); err != nil {
		return err
	}
	req, err := t.Request()
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if !answerOK(srv, http.StatusOK)(&vegeta.Result{Code: uint16(resp.StatusCode), Body: body}) {
		return fmt.Errorf("%s: %s %s", srv.name, resp.Status, tail(body, 300))
	}
	return nil
}
