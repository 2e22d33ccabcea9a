package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and a parenthesis; utime 14, stime 15.
	line := "4242 (gunicorn: w (1)) S 4241 4241 4241 0 -1 4194560 3000 0 0 0 1234 567 0 0 20 0 1 0 100 1000 50 18446744073709551615\n"
	s, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if s.comm != "gunicorn: w (1)" || s.ppid != 4241 || s.utime != 1234 || s.stime != 567 {
		t.Fatalf("got %+v", s)
	}
	if _, err := parseProcStat("4242 no name"); err == nil {
		t.Fatal("want an error for a line without a name")
	}
}

func TestParseCPULine(t *testing.T) {
	data := []byte("cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\n")
	busy, total, err := parseCPULine(data)
	if err != nil {
		t.Fatal(err)
	}
	if busy != 100+5+50+3+2+1 || total != 100+5+50+1000+20+3+2+1 {
		t.Fatalf("busy %d total %d", busy, total)
	}
}

func TestTickDelta(t *testing.T) {
	before := map[int]int64{1: 10, 2: 20}
	after := map[int]int64{1: 15, 2: 20, 3: 7} // 3 started in between
	if d := tickDelta(before, after); d != 12 {
		t.Fatalf("delta %d, want 12", d)
	}
}

func TestParseProcNetTCP(t *testing.T) {
	data := []byte(`  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 31337 1 0000000000000000 100 0 0 10 0
   1: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   2: 0100007F:C350 0100007F:0CEA 06 00000000:00000000 03:00000F2A 00000000     0        0 0 3 0000000000000000
   3: 0100007F:C351 0100007F:0CEA 06 00000000:00000000 03:00000F2A 00000000     0        0 0 3 0000000000000000
`)
	listen, tw := parseProcNetTCP(data, 3306)
	if !reflect.DeepEqual(listen, []string{"31337"}) || tw != 2 {
		t.Fatalf("listen %v, time-wait %d", listen, tw)
	}
}

func TestCommandCalls(t *testing.T) {
	info := "# Stats\r\ntotal_reads_processed:401\r\nkeyspace_hits:7\r\n\r\n# Commandstats\r\n" +
		"cmdstat_mget:calls=200,usec=900,usec_per_call=4.50,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_info:calls=3,usec=90,usec_per_call=30.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_config|resetstat:calls=1,usec=9,usec_per_call=9.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_evalsha:calls=40,usec=400,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n"
	kv := parseInfo(info)
	if kv["total_reads_processed"] != "401" || kv["keyspace_hits"] != "7" {
		t.Fatalf("stats: %v", kv)
	}
	calls := commandCalls(kv)
	if !reflect.DeepEqual(calls, map[string]int64{"mget": 200, "evalsha": 40}) {
		t.Fatalf("calls %v", calls)
	}
	m := measure{loadResult: loadResult{requests: 200}, redisCmds: calls}
	if got := m.cmdBreakdown(); got != "mget 1.00, evalsha 0.20" {
		t.Fatalf("breakdown %q", got)
	}
	if m.redisTotal() != 240 {
		t.Fatalf("total %d", m.redisTotal())
	}
}

func TestParseRedisBenchmarkCSV(t *testing.T) {
	out := []byte("\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n" +
		"\"MGET user:1:info user:2:info\",\"41234.56\",\"0.700\",\"0.100\",\"0.650\",\"1.000\",\"1.500\",\"3.000\"\n")
	rps, err := parseRedisBenchmarkCSV(out)
	if err != nil || rps != 41234.56 {
		t.Fatalf("rps %v, err %v", rps, err)
	}
	if _, err := parseRedisBenchmarkCSV([]byte("Could not connect")); err == nil {
		t.Fatal("want an error without a result line")
	}
}

func TestPercentile(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(lat, 0.5); p != 50*time.Millisecond {
		t.Fatalf("p50 %v", p)
	}
	if p := percentile(lat, 0.99); p != 99*time.Millisecond {
		t.Fatalf("p99 %v", p)
	}
	if p := percentile(nil, 0.5); p != 0 {
		t.Fatalf("empty: %v", p)
	}
}

func TestTableWrite(t *testing.T) {
	tb := &table{head: []string{"scenario", "req/s"}}
	tb.add("warm user(id) ×", "12")
	tb.add("me", "3456")
	var b strings.Builder
	tb.write(&b)
	want := "" +
		"| scenario        | req/s |\n" +
		"| --------------- | ----- |\n" +
		"| warm user(id) × | 12    |\n" +
		"| me              | 3456  |\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	if got := pair("%.2f", 1, 2.5, true); got != "1.00 / 2.50" {
		t.Fatal(got)
	}
	if got := pair("%.2f", 1, 2.5, false); got != "1.00" {
		t.Fatal(got)
	}
	if got := ratio(300, 20); got != "15.0×" {
		t.Fatal(got)
	}
}

// Every headline request body is valid JSON with the query and variables
// it should carry; Flask URLs hold the ids.
func TestTargeters(t *testing.T) {
	hl := &process{name: "headline", base: "http://h"}
	fl := &process{name: "Flask", base: "http://f"}
	for _, k := range []kind{kindUser, kindMe, kindFeed, kindAliases} {
		var tg vegeta.Target
		if err := targeter(hl, k, randomIDs{5, 5}, "tok")(&tg); err != nil {
			t.Fatal(err)
		}
		var body struct {
			Query     string         `json:"query"`
			Variables map[string]any `json:"variables"`
		}
		if err := json.Unmarshal(tg.Body, &body); err != nil {
			t.Fatalf("kind %d: %v: %s", k, err, tg.Body)
		}
		if tg.Method != "POST" || tg.URL != "http://h/graphql" || tg.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("kind %d: %+v", k, tg)
		}
		switch k {
		case kindUser:
			if body.Variables["id"] != "5" {
				t.Fatalf("user: %s", tg.Body)
			}
		case kindMe:
			if tg.Header.Get("Authorization") != "Bearer tok" || body.Query != meQuery {
				t.Fatalf("me: %+v %s", tg.Header, tg.Body)
			}
		case kindFeed:
			if ids, _ := body.Variables["ids"].([]any); len(ids) != feedSize {
				t.Fatalf("feed: %s", tg.Body)
			}
		case kindAliases:
			if len(body.Variables) != feedSize || strings.Count(body.Query, ": user(id: $i") != feedSize {
				t.Fatalf("aliases: %s", tg.Body)
			}
		}
	}
	var tg vegeta.Target
	if err := targeter(fl, kindFeed, randomIDs{7, 7}, "")(&tg); err != nil {
		t.Fatal(err)
	}
	if tg.Method != "GET" || tg.URL != "http://f/v1_0/authors?ids="+strings.Repeat("7,", feedSize-1)+"7" {
		t.Fatalf("flask feed: %+v", tg)
	}
}

// A cold run's ids are each used once, then the targeter ends the run.
func TestFreshIDsRunOut(t *testing.T) {
	src := newFreshIDs(1, 2*feedSize)
	tr := targeter(&process{name: "Flask", base: "http://f"}, kindFeed, src, "")
	var tg vegeta.Target
	for range 2 {
		if err := tr(&tg); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr(&tg); err != vegeta.ErrNoTargets {
		t.Fatalf("after every id: %v", err)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-concurrency", "1, 8,32", "-only", "user,feed-cold"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.concurrency, []int{1, 8, 32}) || !o.only["feed-cold"] || o.flaskSet || o.duration != 5*time.Second || !o.localWarmup {
		t.Fatalf("%+v", o)
	}
	if o, err = parseFlags([]string{"-only", "hot", "-local-warmup=false"}, &strings.Builder{}); err != nil || !o.only["hot"] || o.localWarmup {
		t.Fatalf("-only hot -local-warmup=false: %+v %v", o, err)
	}
	if o, err = parseFlags([]string{"-flask-dir", ""}, &strings.Builder{}); err != nil || !o.flaskSet {
		t.Fatalf("-flask-dir '': %+v %v", o, err)
	}
	for _, bad := range [][]string{{"-concurrency", "0"}, {"-only", "nope"}, {"-users", "3"}, {"extra"}} {
		if _, err := parseFlags(bad, &strings.Builder{}); err == nil {
			t.Fatalf("%v: want an error", bad)
		}
	}
}

func TestLogSummary(t *testing.T) {
	log := `time=1 level=WARN msg="redis circuit breaker" from=closed to=open
time=2 level=WARN msg="redis circuit breaker" from=closed to=open

time=3 level=ERROR msg="load users" err="dial tcp: timeout"
time=4 level=ERROR msg="load users" err="another"
`
	n, sample := logSummary(log, 3)
	if n != 4 || len(sample) != 2 {
		t.Fatalf("n %d sample %q", n, sample)
	}
}
