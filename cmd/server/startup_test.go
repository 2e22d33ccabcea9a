package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/cmd/server/internal/settings"
	"github.com/headline/headline/store/storetest"
)

// testSecret32 is a JWT secret long enough not to be warned of.
const testSecret32 = "0123456789abcdef0123456789abcdef"

// refusedAddr is a loopback address nobody listens on: a server that is
// down.
func refusedAddr(t *testing.T) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(storetest.FreePort(t)))
}

// shorterStartWait makes start-up give up on MySQL after d, for the test.
func shorterStartWait(t *testing.T, d time.Duration) {
	old := mysqlStartWait
	mysqlStartWait = d
	t.Cleanup(func() { mysqlStartWait = old })
}

// TestStartWithAMySQLThatNeverAnswers: on a MySQL address that accepts and
// never answers, the server says what it waits for, stops when told to
// (what SIGTERM does), and after mysqlStartWait starts as with MySQL down.
// `migrate status` says what it waits for and stops when told to, or fails
// after mysqlStartWait.
func TestStartWithAMySQLThatNeverAnswers(t *testing.T) {
	silent := storetest.StartUnanswering(t)
	env := map[string]string{
		"MYSQL_DSN":  "root@tcp(" + silent.Addr + ")/toutiao",
		"REDIS_URL":  "redis://" + refusedAddr(t),
		"JWT_SECRET": testSecret32,
	}
	waiting := regexp.MustCompile(`msg="start-up is waiting for mysql to answer" addr=(\S+)`)

	t.Run("server: says what it waits for, and stops when told to", func(t *testing.T) {
		// Stopped "within a few seconds", with room for a loaded machine.
		out, stop := runInBackground(t, 5*time.Second, env, "-http-addr", "127.0.0.1:0")
		if got := waitForLog(t, out, waiting); got != silent.Addr {
			t.Errorf("waits for %s, want %s", got, silent.Addr)
		}
		if err := stop(); err != nil {
			t.Errorf("run = %v, want nil: it was asked to stop", err)
		}
		if strings.Contains(out.String(), "msg=listening") {
			t.Errorf("it listened:\n%s", out)
		}
	})

	t.Run("server: after the wait, serves as with MySQL down", func(t *testing.T) {
		shorterStartWait(t, 1500*time.Millisecond)
		addr, out, stop := startRun(t, env, "external")
		waitForLog(t, out, regexp.MustCompile(`level=WARN msg="mysql does not answer yet" addr=\S+ err="(no answer within 1.5s)"`))
		if p := servertest.GetProbe(t, "http://"+addr+"/readyz"); p.Status != http.StatusServiceUnavailable {
			t.Errorf("/readyz = %d %s, want 503", p.Status, p.Body)
		}
		if err := stop(); err != nil {
			t.Errorf("run = %v after the context ended, want nil", err)
		}
	})

	migrate := func(ctx context.Context) (*storetest.SyncBuffer, chan error) {
		out := &storetest.SyncBuffer{}
		done := make(chan error, 1)
		go func() { done <- run(ctx, []string{"server", "migrate", "status"}, envOf(env), out) }()
		return out, done
	}
	t.Run("migrate status: says what it waits for, and stops when told to", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out, done := migrate(ctx)
		waitForLog(t, out, regexp.MustCompile(`migrate: waiting for MySQL at (\S+) to answer`))
		cancel()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), silent.Addr) {
				t.Errorf("migrate status = %v, want an error naming %s", err, silent.Addr)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("migrate status has not returned 5s after its context ended:\n%s", out)
		}
	})

	t.Run("migrate status: fails after the wait", func(t *testing.T) {
		shorterStartWait(t, 1500*time.Millisecond)
		out, done := migrate(context.Background())
		select {
		case err := <-done:
			if want := "did not answer within 1.5s"; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("migrate status = %v, want an error with %q", err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("migrate status has not returned 10s after it began:\n%s", out)
		}
	})
}

// TestMySQLConfigErrorsStopTheStart: a DSN that MySQL refuses (unknown
// database, unknown user, wrong password) stops the start with a one-line
// error naming the cause, no password in it, and exit status 1, before the
// server listens; `migrate status` fails the same way.
func TestMySQLConfigErrorsStopTheStart(t *testing.T) {
	dsn := os.Getenv(storetest.MySQLEnv)
	if dsn == "" {
		t.Skip("needs MariaDB: set " + storetest.MySQLEnv)
	}
	base, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	with := func(user, pass, db string) string {
		c := base.Clone()
		c.User, c.Passwd, c.DBName = user, pass, db
		return c.FormatDSN()
	}
	for _, tc := range []struct {
		name, dsn, want string
	}{
		{"a database that does not exist", with(base.User, base.Passwd, "headline_no_such_db"), "Unknown database 'headline_no_such_db'"},
		{"a user that does not exist", with("headline_no_such_user", "hunter2", "mysql"), "Access denied for user 'headline_no_such_user'"},
		{"a wrong password", with(base.User, base.Passwd+"hunter2", "mysql"), "Access denied for user '" + base.User + "'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"MYSQL_DSN": tc.dsn, "REDIS_URL": "redis://" + refusedAddr(t), "JWT_SECRET": testSecret32}
			for _, args := range [][]string{{"server", "-http-addr", "127.0.0.1:0"}, {"server", "migrate", "status"}} {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				var out bytes.Buffer
				err := run(ctx, args, envOf(env), &out)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("%s: %v, want an error with %q", args[1], err, tc.want)
				}
				if msg := err.Error(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "\n") || settings.ExitCode(err) != 1 {
					t.Errorf("%s: exit status %d, error %q: want 1, one line, no password", args[1], settings.ExitCode(err), msg)
				}
				if strings.Contains(out.String(), "msg=listening") {
					t.Errorf("%s listened:\n%s", args[1], out.String())
				}
				t.Logf("%s: %v", args[1], err)
			}
		})
	}
}

// TestStartWithMySQLDown: a MySQL that is merely down at start does not stop
// it: the server listens, /readyz says 503, and once MySQL is up it is
// ready, without a restart.
func TestStartWithMySQLDown(t *testing.T) {
	m := storetest.StartMariaDB(t)
	m.Kill()
	env := map[string]string{"MYSQL_DSN": m.DSN, "REDIS_URL": "redis://" + refusedAddr(t), "JWT_SECRET": testSecret32}
	addr, out, stop := startRun(t, env, "external")
	waitForLog(t, out, regexp.MustCompile(`level=WARN msg="mysql does not answer yet" addr=(\S+)`))
	if p := servertest.GetProbe(t, "http://"+addr+"/readyz"); p.Status != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d %s with MySQL down, want 503", p.Status, p.Body)
	}
	m.Start(t)
	deadline := time.Now().Add(15 * time.Second)
	for p := servertest.GetProbe(t, "http://"+addr+"/readyz"); p.Status != http.StatusOK; p = servertest.GetProbe(t, "http://"+addr+"/readyz") {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %s 15s after MySQL came up, want 200", p.Status, p.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Errorf("run = %v, want nil", err)
	}
}

// TestStartWithARedisThatNeverAnswers: a Redis that accepts and never
// answers — one node, a cluster's startup node, the sentinels — neither
// holds the start nor the stop: the server warns and listens.
func TestStartWithARedisThatNeverAnswers(t *testing.T) {
	silent := storetest.StartUnanswering(t)
	mysqlDown := "root@tcp(" + refusedAddr(t) + ")/toutiao"
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"REDIS_URL", map[string]string{"REDIS_URL": "redis://:hunter2@" + silent.Addr}},
		{"REDIS_CLUSTER_ADDRS", map[string]string{"REDIS_CLUSTER_ADDRS": silent.Addr}},
		{"REDIS_SENTINEL_ADDRS", map[string]string{"REDIS_SENTINEL_ADDRS": silent.Addr, "REDIS_SENTINEL_MASTER": "mymaster"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["MYSQL_DSN"], tc.env["JWT_SECRET"] = mysqlDown, testSecret32
			began := time.Now()
			_, out, stop := startRun(t, tc.env, "external")
			t.Logf("listening %v after the start", time.Since(began).Round(time.Millisecond))
			line := waitForLog(t, out, regexp.MustCompile(`(level=WARN msg="redis does not answer yet.*)`))
			if !strings.Contains(line, silent.Addr) || strings.Contains(line, "hunter2") {
				t.Errorf("the warning should name %s, without the password: %s", silent.Addr, line)
			}
			if err := stop(); err != nil {
				t.Errorf("run = %v, want nil", err)
			}
		})
	}
	if silent.Accepted() == 0 {
		t.Error("the server never tried Redis at start")
	}
}

// TestSignalsStopTheBinary runs the built server as an operator would:
// SIGTERM ends it within a few seconds while it waits for a MySQL that
// never answers (serving or migrating), a second signal ends a graceful stop
// at once, and a usage error exits 2.
func TestSignalsStopTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildServer(t, t.TempDir())
	silent := storetest.StartUnanswering(t)
	external := map[string]string{
		"MYSQL_DSN":  "root@tcp(" + silent.Addr + ")/toutiao",
		"REDIS_URL":  "redis://" + refusedAddr(t),
		"JWT_SECRET": testSecret32,
		"HTTP_ADDR":  "127.0.0.1:0",
	}
	within := margin(5 * time.Second)
	for _, tc := range []struct {
		name    string
		args    []string
		waiting *regexp.Regexp
		code    int
	}{
		{"server", nil, regexp.MustCompile(`msg="start-up is waiting for mysql to answer" addr=(\S+)`), 0},
		{"server migrate status", []string{"migrate", "status"}, regexp.MustCompile(`migrate: waiting for MySQL at (\S+)`), 1},
	} {
		t.Run("SIGTERM while "+tc.name+" waits for MySQL", func(t *testing.T) {
			p := startProcess(t, bin, external, tc.args...)
			waitForLog(t, p.out, tc.waiting)
			if !p.signal(t, syscall.SIGTERM, within) {
				t.Fatalf("still running %v after SIGTERM:\n%s", within, p.out)
			}
			if got := p.cmd.ProcessState.ExitCode(); got != tc.code {
				t.Errorf("exit status %d, want %d:\n%s", got, tc.code, p.out)
			}
		})
	}

	t.Run("server migrate with no command exits 2", func(t *testing.T) {
		p := startProcess(t, bin, external, "migrate")
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			t.Fatalf("still running after 10s:\n%s", p.out)
		}
		if got := p.cmd.ProcessState.ExitCode(); got != 2 || !strings.Contains(p.out.String(), "Usage: server migrate") {
			t.Errorf("exit status %d, want 2, with the usage:\n%s", got, p.out)
		}
		if n := silent.Accepted(); n != 2 {
			t.Errorf("MySQL got %d connections, want the 2 of the subtests before", n)
		}
	})

	t.Run("a second SIGTERM ends a graceful stop at once", func(t *testing.T) {
		p := startProcess(t, bin, map[string]string{
			"HTTP_ADDR": "127.0.0.1:0", "EMBEDDED_DEMO_USERS": "1",
			"SHUTDOWN_TIMEOUT": "60s", "HTTP_READ_TIMEOUT": "60s",
		})
		addr := waitForLog(t, p.out, regexp.MustCompile(`msg=listening addr=(\S+)`))
		// A request whose body is still coming: its handler runs, and the
		// graceful stop waits for it (a request whose headers are still
		// coming would not hold it: its connection is not yet active).
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // for the server to read it
		if p.signal(t, syscall.SIGTERM, time.Second) {
			t.Fatalf("the first SIGTERM ended it at once; the graceful stop should wait for the request:\n%s", p.out)
		}
		waitForLog(t, p.out, regexp.MustCompile(`msg="(shutting down)"`))
		if !p.signal(t, syscall.SIGTERM, within) {
			t.Fatalf("still running %v after the second SIGTERM:\n%s", within, p.out)
		}
	})
}
