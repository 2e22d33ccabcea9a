package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/uptrace/bun"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/sqldb"
	"github.com/headline/headline/store/storetest"
)

// Ids 235xx: two instances in one process; 236xx: two server processes.

// herdPerInstance is how many concurrent requests each instance gets.
const herdPerInstance = 100

// slowMachine gives Redis timeouts that hold on a loaded machine (the race
// detector, 200 clients on 2 cores), for tests about something else.
func slowMachine(c *Config) {
	c.Redis.DialTimeout, c.Redis.ReadTimeout, c.Redis.WriteTimeout = 5*time.Second, 5*time.Second, 5*time.Second
}

// herdClient keeps enough idle connections that a herd does not open and
// close hundreds of them on the way.
func herdClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{MaxIdleConns: 4 * herdPerInstance, MaxIdleConnsPerHost: 2 * herdPerInstance, IdleConnTimeout: time.Minute}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// herd sends herdPerInstance concurrent user(id:) requests to each of urls,
// all released at once, and returns the faults it saw.
func herd(t *testing.T, client *http.Client, urls []string, id int64, wantName string) []string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": fmt.Sprintf(`{ user(id: "%d") { id name } }`, id)})
	var mu sync.Mutex
	var faults []string
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, u := range urls {
		for range herdPerInstance {
			wg.Go(func() {
				<-start
				resp, err := client.Post(u+"/graphql", "application/json", bytes.NewReader(body))
				var fault string
				if err != nil {
					fault = err.Error()
				} else {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					var r struct {
						Data struct {
							User *servertest.User `json:"user"`
						} `json:"data"`
					}
					if json.Unmarshal(b, &r) != nil || r.Data.User == nil || r.Data.User.Name != wantName {
						fault = string(b)
					}
				}
				if fault != "" {
					mu.Lock()
					faults = append(faults, fault)
					mu.Unlock()
				}
			})
		}
	}
	close(start)
	wg.Wait()
	return faults
}

// TestHerdTwoInstancesOneColdID: two headline instances, each with its own
// Profiles, database handle and Redis client, sharing only MySQL and Redis,
// get 100 concurrent requests each for the same cold id. The in-process
// single flight makes that one load per instance at most, and the lease
// makes the second instance wait for the first one's fill: at most 2 SELECTs
// in all.
func TestHerdTwoInstancesOneColdID(t *testing.T) {
	// Timeouts that hold under -race on two CPUs: a herd of 200 connections
	// to miniredis would otherwise time out, open the breaker, and measure
	// the Redis-down path instead.
	a := newTestServer(t, slowMachine)
	rdbB := rediscache.NewClient(a.Redis.Options(), a.cfg.Redis.ClientOptions)
	t.Cleanup(func() { _ = rdbB.Close() })
	b := serveConfig(t, a.cfg, a.Base, rdbB)
	sqlB := b.SQL
	client := herdClient(t)
	ctx := context.Background()

	var figures []string
	worst := 0
	for id := int64(23501); id <= 23505; id++ {
		a.ReplaceUsers(t, headline.User{ID: id, Name: fmt.Sprintf("herd %d", id)})
		if err := a.Redis.Raw.Del(ctx, rediscache.ProfileKey(id), rediscache.LeaseKey(id)).Err(); err != nil {
			t.Fatal(err)
		}
		a.SQL.Reset()
		sqlB.Reset()
		faults := herd(t, client, []string{a.URL, b.URL}, id, fmt.Sprintf("herd %d", id))
		for i, f := range faults {
			if i == 5 {
				t.Errorf("… %d wrong answers in all", len(faults))
				break
			}
			t.Errorf("id %d: wrong answer: %s", id, f)
		}
		selA, selB := a.SQL.Count("SELECT"), sqlB.Count("SELECT")
		figures = append(figures, fmt.Sprintf("id %d: %d+%d", id, selA, selB))
		worst = max(worst, selA+selB)
		if selA+selB > 2 || selA > 1 || selB > 1 {
			t.Errorf("id %d: 2 instances × %d concurrent cold requests ran %d+%d SELECTs, want at most 1 per instance, 2 in all:\nA: %q\nB: %q",
				id, herdPerInstance, selA, selB, a.SQL.Queries(), sqlB.Queries())
		}
		if _, raw, ok := servertest.CachedInfo(t, a.Redis.Raw, id); !ok {
			t.Errorf("id %d: not cached after the herd", id)
		} else if !strings.Contains(raw, fmt.Sprintf(`"herd %d"`, id)) {
			t.Errorf("id %d: cached %s", id, raw)
		}
	}
	t.Logf("2 instances × %d concurrent requests for one cold id, SELECTs per round (A+B): %s; at most %d",
		herdPerInstance, strings.Join(figures, ", "), worst)
}

// TestHerdTwoProcessesOneColdID is the same herd on two server processes (the
// binary built from this package) on the real MySQL and Redis. Each process
// reaches MySQL through a proxy of the test's that counts the SELECTs it
// sends, so other clients of the shared server (other test runs) do not
// count; the global Com_select delta is logged beside it.
func TestHerdTwoProcessesOneColdID(t *testing.T) {
	dsn, redisURL := os.Getenv(storetest.MySQLEnv), os.Getenv(storetest.RedisEnv)
	if dsn == "" || redisURL == "" {
		t.Skipf("two server processes need a MySQL and a Redis both can reach: set %s and %s (the embedded engines live inside one process)",
			storetest.MySQLEnv, storetest.RedisEnv)
	}
	ctx := context.Background()
	base := storetest.DB(t, "server")
	r := storetest.NewRedis(t, redisDB)
	procs := startHerdProcesses(t, base, dsn, redisURL)
	client := herdClient(t)

	comSelect := func() int {
		var name string
		var n int
		if err := base.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Com_select'").Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var figures []string
	worst := 0
	for id := int64(23601); id <= 23605; id++ {
		name := fmt.Sprintf("herd %d", id)
		if _, err := base.NewDelete().Table("user_basic").Where("user_id = ?", id).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if err := sqldb.InsertUsers(ctx, base, headline.User{ID: id, Name: name}); err != nil {
			t.Fatal(err)
		}
		if err := r.Raw.Del(ctx, rediscache.ProfileKey(id), rediscache.LeaseKey(id)).Err(); err != nil {
			t.Fatal(err)
		}
		for _, p := range procs {
			p.proxy.reset()
		}
		before := comSelect()
		faults := herd(t, client, []string{procs[0].url, procs[1].url}, id, name)
		global := comSelect() - before
		for i, f := range faults {
			if i == 5 {
				t.Errorf("… %d wrong answers in all", len(faults))
				break
			}
			t.Errorf("id %d: wrong answer: %s", id, f)
		}
		n1, n2 := procs[0].proxy.selects(id), procs[1].proxy.selects(id)
		figures = append(figures, fmt.Sprintf("id %d: %d+%d (Com_select +%d)", id, n1, n2, global))
		worst = max(worst, n1+n2)
		if n1+n2 > 2 {
			t.Errorf("id %d: 2 processes × %d concurrent cold requests sent %d+%d SELECTs, want at most 2:\n%q\n%q",
				id, herdPerInstance, n1, n2, procs[0].proxy.queries(), procs[1].proxy.queries())
		}
	}
	t.Logf("2 processes × %d concurrent requests for one cold id, SELECTs per round: %s; at most %d",
		herdPerInstance, strings.Join(figures, ", "), worst)
}

// startHerdProcesses starts two server processes on base's database,
// each through a proxy of its own that counts its SELECTs, and Redis DB
// redisDB of redisURL, and waits until both are ready.
func startHerdProcesses(t *testing.T, base *bun.DB, dsn, redisURL string) []*herdProcess {
	ctx := context.Background()
	var dbName string
	if err := base.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ru, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	ru.Path = "/" + strconv.Itoa(redisDB)

	bin := buildServer(t, t.TempDir())
	var procs []*herdProcess
	for i := range 2 {
		p := startHerdProxy(t, cfg.Addr)
		pc := cfg.Clone()
		pc.Net, pc.Addr, pc.DBName, pc.TLSConfig = "tcp", p.addr(), dbName, "false"
		procs = append(procs, startHerdProcess(t, bin, fmt.Sprintf("server%d", i+1), p, map[string]string{
			"MYSQL_DSN":  pc.FormatDSN(),
			"REDIS_URL":  ru.String(),
			"JWT_SECRET": testSecret,
			"HTTP_ADDR":  "127.0.0.1:0",
			// As slowMachine: the herd, not Redis timeouts, is under test.
			"REDIS_DIAL_TIMEOUT":  "5s",
			"REDIS_READ_TIMEOUT":  "5s",
			"REDIS_WRITE_TIMEOUT": "5s",
		}))
	}
	client := herdClient(t)
	for _, p := range procs {
		// Both ready: each has its MySQL and Redis connections open.
		resp, err := client.Get(p.url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"status":"ready"`) {
			t.Fatalf("%s /readyz = %d %s\n%s", p.name, resp.StatusCode, b, p.out)
		}
	}
	return procs
}

type herdProcess struct {
	name  string
	url   string
	proxy *herdProxy
	*process
}

// startHerdProcess runs bin with env and waits for it to listen.
func startHerdProcess(t *testing.T, bin, name string, proxy *herdProxy, env map[string]string) *herdProcess {
	t.Helper()
	p := &herdProcess{name: name, proxy: proxy, process: startProcess(t, bin, env)}
	p.url = "http://" + p.listening(t)
	return p
}

// herdProxy forwards MySQL connections to the server and records the text of
// every COM_QUERY its clients send (bun sends statements as text, with their
// arguments in them). It reads the client's packets whole: a 3-byte length,
// a sequence number, the payload; a command starts a sequence (number 0) and
// COM_QUERY is command 0x03. TLS is off on the proxied connections.
type herdProxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	stmts    []string
}

func startHerdProxy(t *testing.T, upstream string) *herdProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &herdProxy{ln: ln, upstream: upstream}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
	return p
}

func (p *herdProxy) addr() string { return p.ln.Addr().String() }

func (p *herdProxy) pipe(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		_, _ = io.Copy(c, up)
		_ = c.Close()
	}()
	r := bufio.NewReader(c)
	hdr := make([]byte, 4)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return
		}
		payload := make([]byte, int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16)
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		if hdr[3] == 0 && len(payload) > 0 && payload[0] == 0x03 {
			p.mu.Lock()
			p.stmts = append(p.stmts, string(payload[1:]))
			p.mu.Unlock()
		}
		if _, err := up.Write(append(hdr, payload...)); err != nil {
			return
		}
	}
}

func (p *herdProxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stmts = nil
}

func (p *herdProxy) queries() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.stmts...)
}

// selects counts the SELECTs that name id.
func (p *herdProxy) selects(id int64) int {
	re := regexp.MustCompile(`\b` + strconv.FormatInt(id, 10) + `\b`)
	n := 0
	for _, q := range p.queries() {
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(q)), "SELECT") && re.MatchString(q) {
			n++
		}
	}
	return n
}
