package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/headline/headline/store/storetest"
)

// syncBuffer is a log sink the server and the test share.
type syncBuffer = storetest.SyncBuffer

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// waitForLog returns the first submatch of re in the log, waiting up to 10s.
func waitForLog(t *testing.T, out *syncBuffer, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %v in the log:\n%s", re, out.String())
	return ""
}

// startEmbedded runs the server in the embedded mode on a free port, with
// args added to its flags, and returns its address, its log and a stop
// function that ends it and returns what run returned (an error if it did not
// end within 10s). The test's cleanup stops it too.
func startEmbedded(t *testing.T, args ...string) (addr string, out *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"server", "-http-addr", "127.0.0.1:0"}, args...), envOf(nil), out)
	}()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				err = errors.New("run did not return 10s after the context ended")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	addr = waitForLog(t, out, regexp.MustCompile(`msg=listening addr=(\S+) mode=embedded`))
	return addr, out, stop
}

func TestRunEmbedded(t *testing.T) {
	addr, out, stop := startEmbedded(t, "-embedded-demo-users", "50")
	tok := waitForLog(t, out, regexp.MustCompile(`token=(\S+)`))
	if !strings.Contains(out.String(), "playground=http://") {
		t.Errorf("the log does not give the Playground URL:\n%s", out)
	}

	body := `{"query":"{ me { id name } user(id: \"3\") { id name } users(ids: [\"1\", \"51\"]) { id } }"}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `{"data":{"me":{"id":"1","name":"user1"},"user":{"id":"3","name":"头条用户3"},"users":[{"id":"1"},null]}}`
	if got := string(b); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}

	if err := stop(); err != nil {
		t.Errorf("run returned %v after the context ended, want nil", err)
	}
}

func TestRunRefusesIncompleteConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no JWT_SECRET outside the embedded mode", map[string]string{"MYSQL_DSN": "root@tcp(127.0.0.1:1)/x", "REDIS_URL": "redis://127.0.0.1:1"}, "JWT_SECRET"},
		{"MySQL without Redis", map[string]string{"MYSQL_DSN": "root@tcp(127.0.0.1:1)/x", "JWT_SECRET": "s"}, "REDIS_URL"},
		{"Redis without MySQL", map[string]string{"REDIS_URL": "redis://127.0.0.1:1", "JWT_SECRET": "s"}, "MYSQL_DSN"},
		{"a malformed DSN, not echoed", map[string]string{"MYSQL_DSN": "hunter2@@@", "REDIS_URL": "redis://127.0.0.1:1", "JWT_SECRET": "s"}, "MYSQL_DSN"},
		{"a bad duration", map[string]string{"REDIS_READ_TIMEOUT": "soon"}, "REDIS_READ_TIMEOUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := run(ctx, []string{"server", "-http-addr", "127.0.0.1:0"}, envOf(tc.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run = %v, want an error naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the DSN: %v", err)
			}
		})
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	cfg, err := parseConfig([]string{"-max-ids", "7", "-loader-wait", "1ms"}, envOf(map[string]string{"MAX_IDS": "50", "COMPLEXITY_LIMIT": "77", "LOADER_WAIT": ""}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxIDs != 7 || cfg.ComplexityLimit != 77 || cfg.LoaderWait != time.Millisecond || cfg.HTTPAddr != ":8080" {
		t.Errorf("got MaxIDs %d ComplexityLimit %d LoaderWait %v HTTPAddr %q; want 7, 77, 1ms, :8080",
			cfg.MaxIDs, cfg.ComplexityLimit, cfg.LoaderWait, cfg.HTTPAddr)
	}
}

// TestMigrate runs `server migrate` against MariaDB: it creates the Toutiao
// table, is idempotent, and leaves a table that already exists as it is.
func TestMigrate(t *testing.T) {
	dsn := os.Getenv(storetest.MySQLEnv)
	if dsn == "" {
		t.Skip("needs MariaDB: set " + storetest.MySQLEnv)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx := context.Background()
	exec := func(q string) {
		t.Helper()
		if _, err := admin.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	migrate := func(t *testing.T, db string, args ...string) string {
		t.Helper()
		c := *cfg
		c.DBName = db
		var out bytes.Buffer
		if err := run(ctx, append([]string{"server", "migrate"}, args...), envOf(map[string]string{"MYSQL_DSN": c.FormatDSN()}), &out); err != nil {
			t.Fatalf("migrate %v: %v", args, err)
		}
		return out.String()
	}

	t.Run("creates user_basic as Toutiao has it, once", func(t *testing.T) {
		exec("DROP DATABASE IF EXISTS headline_test_migrate")
		exec("CREATE DATABASE headline_test_migrate CHARACTER SET utf8mb4")
		if out := migrate(t, "headline_test_migrate", "up"); !strings.Contains(out, "applied") {
			t.Errorf("first migrate up said %q", out)
		}
		if out := migrate(t, "headline_test_migrate", "up"); !strings.Contains(out, "nothing to do") {
			t.Errorf("second migrate up said %q, want nothing to do", out)
		}
		if out := migrate(t, "headline_test_migrate", "status"); !strings.Contains(out, "user_basic applied") {
			t.Errorf("status said %q", out)
		}
		var name, ddl string
		if err := admin.QueryRowContext(ctx, "SHOW CREATE TABLE headline_test_migrate.user_basic").Scan(&name, &ddl); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"`user_id` bigint(20) unsigned NOT NULL AUTO_INCREMENT", "`user_name` varchar(32) NOT NULL", "UNIQUE KEY `user_name`", "utf8mb4", "`update_time` datetime NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp()"} {
			if !strings.Contains(ddl, want) {
				t.Errorf("user_basic lacks %q:\n%s", want, ddl)
			}
		}
	})

	t.Run("leaves an existing user_basic and its rows alone", func(t *testing.T) {
		exec("DROP DATABASE IF EXISTS headline_test_migrate2")
		exec("CREATE DATABASE headline_test_migrate2 CHARACTER SET utf8mb4")
		exec("CREATE TABLE headline_test_migrate2.user_basic (user_id BIGINT UNSIGNED PRIMARY KEY, user_name VARCHAR(32) NOT NULL, mobile CHAR(11) NOT NULL, extra_col INT)")
		exec("INSERT INTO headline_test_migrate2.user_basic VALUES (1, 'kept', '13800000000', 7)")
		migrate(t, "headline_test_migrate2", "up")
		var n int
		if err := admin.QueryRowContext(ctx, "SELECT extra_col FROM headline_test_migrate2.user_basic WHERE user_name = 'kept'").Scan(&n); err != nil || n != 7 {
			t.Errorf("existing row: %d, %v; want it kept with extra_col 7", n, err)
		}
	})
	exec("DROP DATABASE IF EXISTS headline_test_migrate")
	exec("DROP DATABASE IF EXISTS headline_test_migrate2")
}

func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		def := s.def
		if def == "" {
			def = "—"
		}
		row := "| `" + s.env + "` | "
		if !strings.Contains(string(readme), row+"`"+def+"` |") && !strings.Contains(string(readme), row+def+" |") {
			t.Errorf("README has no row %q with default %q", s.env, def)
		}
	}
}

func TestPlaygroundStartsWithTheDemoTokenInTheEmbeddedMode(t *testing.T) {
	addr, _, _ := startEmbedded(t, "-embedded-demo-users", "1")
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `"Authorization":"Bearer ey`) {
		t.Errorf("the Playground page (%d) does not carry a default Authorization header:\n%.2000s", resp.StatusCode, page)
	}
}
