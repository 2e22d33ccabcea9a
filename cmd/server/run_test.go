package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/sqldb"
	"github.com/headline/headline/store/storetest"
)

// envOf is a getenv of the settings kv, the local tier off unless kv
// names LOCAL_CACHE_SIZE.
func envOf(kv map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := kv[k]; ok {
			return v
		}
		return localTierOff(k)
	}
}

// localTierOff is the setting the tests' servers run with when the test
// does not name it: the local tier off (LOCAL_CACHE_SIZE=0), unlike the
// default, so that the tests written before it still count every warm
// lookup's Redis read. The tests of the tier turn it on.
func localTierOff(k string) string {
	if k == "LOCAL_CACHE_SIZE" {
		return "0"
	}
	return ""
}

// waitForLog returns the first submatch of re in the log, waiting up to 10s.
func waitForLog(t *testing.T, out *storetest.SyncBuffer, re *regexp.Regexp) string {
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
func startEmbedded(t *testing.T, args ...string) (addr string, out *storetest.SyncBuffer, stop func() error) {
	t.Helper()
	return startRun(t, nil, "embedded", args...)
}

// startRun is startEmbedded on the settings env, waiting for mode.
func startRun(t *testing.T, env map[string]string, mode string, args ...string) (addr string, out *storetest.SyncBuffer, stop func() error) {
	t.Helper()
	out, stop = runInBackground(t, 10*time.Second, env, append([]string{"-http-addr", "127.0.0.1:0"}, args...)...)
	addr = waitForLog(t, out, regexp.MustCompile(`msg=listening addr=(\S+) mode=`+mode))
	return addr, out, stop
}

// runInBackground runs run with args and env and returns its log and a
// stop function that ends its context and returns what run returned, or an
// error if run has not returned within. stop returns the same on every
// call; the test's cleanup calls it too.
func runInBackground(t *testing.T, within time.Duration, env map[string]string, args ...string) (out *storetest.SyncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &storetest.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"server"}, args...), envOf(env), out) }()
	stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(within):
			return fmt.Errorf("run has not returned %v after its context ended; log:\n%s", within, out)
		}
	})
	t.Cleanup(func() { _ = stop() })
	return out, stop
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
	if cfg.GraphQL.MaxIDs != 7 || cfg.GraphQL.ComplexityLimit != 77 || cfg.API.Loaders.Wait != time.Millisecond || cfg.HTTPAddr != ":8080" {
		t.Errorf("got MaxIDs %d ComplexityLimit %d LoaderWait %v HTTPAddr %q; want 7, 77, 1ms, :8080",
			cfg.GraphQL.MaxIDs, cfg.GraphQL.ComplexityLimit, cfg.API.Loaders.Wait, cfg.HTTPAddr)
	}
}

func TestGOGC(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want int
		err  bool
	}{
		{"", 400, false}, // headline's default, not the runtime's 100
		{"100", 100, false},
		{"off", -1, false},
		{"OFF", -1, false},
		{"0", 0, true},
		{"-5", 0, true},
		{"lots", 0, true},
	} {
		cfg, err := parseConfig(nil, envOf(map[string]string{"GOGC": tc.env}), io.Discard)
		switch {
		case tc.err && err == nil:
			t.Errorf("GOGC=%q: no error", tc.env)
		case !tc.err && err != nil:
			t.Errorf("GOGC=%q: %v", tc.env, err)
		case !tc.err && cfg.GCPercent != tc.want:
			t.Errorf("GOGC=%q: %d, want %d", tc.env, cfg.GCPercent, tc.want)
		}
	}
}

// migrateEngine is a database `server migrate` runs on: fresh makes an
// empty database for one test and returns a handle to inspect it and a
// function that runs `server migrate <cmd>` on it with a connection of its
// own, as a separate process would.
type migrateEngine struct {
	name  string
	fresh func(t *testing.T, name string) (db *bun.DB, migrate func(ctx context.Context, cmd string) (string, error))
}

var migrateEngines = []migrateEngine{
	{"MariaDB", func(t *testing.T, name string) (*bun.DB, func(context.Context, string) (string, error)) {
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
		t.Cleanup(func() { _ = admin.Close() })
		cfg.DBName = "headline_test_migrate_" + name + os.Getenv("HEADLINE_TEST_DB_SUFFIX")
		for _, q := range []string{"DROP DATABASE IF EXISTS `" + cfg.DBName + "`", "CREATE DATABASE `" + cfg.DBName + "` CHARACTER SET utf8mb4"} {
			if _, err := admin.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS `" + cfg.DBName + "`") })
		db, err := sqldb.OpenMySQL(cfg.FormatDSN(), sqldb.PoolOptions{MaxOpen: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db, func(ctx context.Context, cmd string) (string, error) {
			var out bytes.Buffer
			err := run(ctx, append([]string{"server", "migrate"}, strings.Fields(cmd)...), envOf(map[string]string{"MYSQL_DSN": cfg.FormatDSN()}), &out)
			return out.String(), err
		}
	}},
	{"SQLite", func(t *testing.T, name string) (*bun.DB, func(context.Context, string) (string, error)) {
		path := filepath.Join(t.TempDir(), name+".db")
		db, err := sqldb.OpenSQLite(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db, func(ctx context.Context, cmd string) (string, error) {
			conn, err := sqldb.OpenSQLite(path)
			if err != nil {
				return "", err
			}
			defer conn.Close()
			var out bytes.Buffer
			a, err := parseMigrateArgs(strings.Fields(cmd), envOf(nil), &out)
			if err != nil {
				return out.String(), err
			}
			err = migrateCommand(ctx, conn, a, &out)
			return out.String(), err
		}
	}},
}

// tableExists reports whether db has a table called name.
func tableExists(t *testing.T, db *bun.DB, name string) bool {
	t.Helper()
	q := "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	if db.Dialect().Name() == dialect.SQLite {
		q = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	}
	var n int
	if err := db.NewRaw(q, name).Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestMigrate runs `server migrate up|down|status` on MariaDB and SQLite:
// up creates the Toutiao table and records that headline created it; down
// undoes the last up, dropping only a table headline created; a table that
// was there before is never touched; two ups at once both succeed.
func TestMigrate(t *testing.T) {
	for _, e := range migrateEngines {
		t.Run(e.name, func(t *testing.T) {
			m := migrateTest{e}
			t.Run("on an empty database: up creates user_basic, down drops it while empty, only down -force once it holds rows", m.emptyDatabase)
			t.Run("an existing user_basic, with rows and a column of its own, is left alone by up and down", m.existingTable)
			t.Run("a database migrated before headline recorded its tables keeps user_basic", m.legacyDatabase)
			t.Run("two ups at once: one applies, both succeed", m.concurrentUps)
			t.Run("a held lock is waited for; one never released fails, naming it", m.heldLock)
		})
	}
}

// What `server migrate` says.
const (
	mig       = "20261126000001_user_basic"
	applied   = "migrate: applied " + mig + "\n"
	undone    = "migrate: rolled back " + mig + "\n"
	noUp      = "migrate: nothing to do\n"
	noDown    = "migrate: nothing to roll back\n"
	pending   = mig + " pending\ntables headline created, which down drops: none\n"
	appliedBy = mig + " applied (group 1)\ntables headline created, which down drops: user_basic (empty)\n"
	holdsRow  = mig + " applied (group 1)\ntables headline created, which down drops: user_basic (holds 1 row: only down -force drops it)\n"
	appliedTo = mig + " applied (group 1)\ntables headline created, which down drops: none\n"
)

// migrateTest is TestMigrate on one engine.
type migrateTest struct{ e migrateEngine }

// steps runs migrate commands in turn, checking each output.
func steps(t *testing.T, migrate func(context.Context, string) (string, error), cmdWant ...string) {
	t.Helper()
	for i := 0; i+1 < len(cmdWant); i += 2 {
		out, err := migrate(context.Background(), cmdWant[i])
		if err != nil {
			t.Fatalf("step %d, migrate %s: %v (output %q)", i/2+1, cmdWant[i], err, out)
		}
		if out != cmdWant[i+1] {
			t.Fatalf("step %d, migrate %s said\n%q\nwant\n%q", i/2+1, cmdWant[i], out, cmdWant[i+1])
		}
	}
}

// exists checks whether each of tables exists in db.
func exists(t *testing.T, db *bun.DB, want bool, tables ...string) {
	t.Helper()
	for _, name := range tables {
		if got := tableExists(t, db, name); got != want {
			t.Errorf("table %s exists: %v, want %v", name, got, want)
		}
	}
}

func (m migrateTest) emptyDatabase(t *testing.T) {
	ctx := context.Background()
	db, migrate := m.e.fresh(t, "empty")
	steps(t, migrate, "status", pending, "up", applied, "status", appliedBy)
	exists(t, db, true, "user_basic", "headline_created_tables")
	if m.e.name == "MariaDB" {
		var name, ddl string
		if err := db.QueryRowContext(ctx, "SHOW CREATE TABLE user_basic").Scan(&name, &ddl); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"`user_id` bigint(20) unsigned NOT NULL AUTO_INCREMENT", "`user_name` varchar(32) NOT NULL", "UNIQUE KEY `user_name`", "utf8mb4", "`update_time` datetime NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp()"} {
			if !strings.Contains(ddl, want) {
				t.Errorf("user_basic lacks %q:\n%s", want, ddl)
			}
		}
	}
	steps(t, migrate, "down", undone, "status", pending, "up", applied)

	// A row the Flask app wrote: down keeps the table, says why
	// and how to drop it anyway, and the migration stays applied.
	if err := sqldb.InsertUsers(ctx, db, headline.User{ID: 1, Name: "made-after-up"}); err != nil {
		t.Fatal(err)
	}
	steps(t, migrate, "up", noUp, "status", holdsRow)
	out, err := migrate(ctx, "down")
	if err == nil || !strings.Contains(err.Error(), "user_basic holds 1 row: not dropped") || !strings.Contains(err.Error(), "down -force") {
		t.Errorf("down with a row in user_basic: %v (output %q), want an error naming the table, its row and -force", err, out)
	}
	exists(t, db, true, "user_basic", "headline_created_tables")
	var n int
	if err := db.NewRaw("SELECT COUNT(*) FROM user_basic").Scan(ctx, &n); err != nil || n != 1 {
		t.Errorf("user_basic holds %d rows (%v) after the refused down, want 1", n, err)
	}
	steps(t, migrate, "status", holdsRow, "down -force", undone, "status", pending)
	exists(t, db, false, "user_basic", "headline_created_tables")
	steps(t, migrate, "down", noDown, "down -force", noDown, "up", applied, "status", appliedBy)
	exists(t, db, true, "user_basic")
}

func (m migrateTest) existingTable(t *testing.T) {
	ctx := context.Background()
	db, migrate := m.e.fresh(t, "existing")
	for _, q := range []string{
		"CREATE TABLE user_basic (user_id BIGINT UNSIGNED PRIMARY KEY, user_name VARCHAR(32) NOT NULL, mobile CHAR(11) NOT NULL, extra_col INT)",
		"INSERT INTO user_basic VALUES (1, 'kept', '13800000000', 7), (2, 'kept too', '13800000001', 8)",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	steps(t, migrate, "up", applied, "status", appliedTo, "down", undone, "status", pending, "up", applied, "down", undone)
	var got []string
	if err := db.NewRaw("SELECT CONCAT(user_id, ' ', user_name, ' ', extra_col) FROM user_basic ORDER BY user_id").Scan(ctx, &got); err != nil {
		t.Fatalf("read the existing table: %v", err)
	}
	if g, w := strings.Join(got, "; "), "1 kept 7; 2 kept too 8"; g != w {
		t.Errorf("user_basic after up, down, up, down: %q, want %q", g, w)
	}
	exists(t, db, false, "headline_created_tables")
}

func (m migrateTest) legacyDatabase(t *testing.T) {
	ctx := context.Background()
	db, migrate := m.e.fresh(t, "legacy")
	steps(t, migrate, "up", applied)
	// As the first `migrate up` left such a database: the table, no record.
	if _, err := db.ExecContext(ctx, "DROP TABLE headline_created_tables"); err != nil {
		t.Fatal(err)
	}
	steps(t, migrate, "status", appliedTo, "down", undone)
	exists(t, db, true, "user_basic")
}

func (m migrateTest) concurrentUps(t *testing.T) {
	ctx := context.Background()
	db, migrate := m.e.fresh(t, "concurrent")
	for round := range 5 {
		outs := make([]string, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range outs {
			wg.Go(func() {
				<-start
				outs[i], errs[i] = migrate(ctx, "up")
			})
		}
		close(start)
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("round %d: errors %v, %v", round, errs[0], errs[1])
		}
		slices.Sort(outs)
		if got, want := strings.Join(outs, ""), applied+noUp; got != want {
			t.Fatalf("round %d: the two said\n%q\nwant one of each:\n%q", round, got, want)
		}
		steps(t, migrate, "status", appliedBy, "down", undone)
	}
	var locks int
	if err := db.NewRaw("SELECT COUNT(*) FROM bun_migration_locks").Scan(ctx, &locks); err != nil || locks != 0 {
		t.Errorf("locks left: %d, %v; want 0", locks, err)
	}
}

func (m migrateTest) heldLock(t *testing.T) {
	ctx := context.Background()
	db, migrate := m.e.fresh(t, "locked")
	steps(t, migrate, "status", pending) // makes bun's tables
	hold := func() {
		if _, err := db.ExecContext(ctx, "INSERT INTO bun_migration_locks (table_name) VALUES ('bun_migrations')"); err != nil {
			t.Fatal(err)
		}
	}
	hold()
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, _ = db.ExecContext(ctx, "DELETE FROM bun_migration_locks")
	}()
	began := time.Now()
	steps(t, migrate, "up", applied)
	if waited := time.Since(began); waited < 300*time.Millisecond {
		t.Errorf("up returned after %v, before the lock was released at 300ms", waited)
	}

	hold()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	out, err := migrate(short, "down")
	if err == nil || !strings.Contains(err.Error(), "bun_migration_locks") {
		t.Errorf("down under a lock never released: %v (output %q), want an error naming bun_migration_locks", err, out)
	}
	exists(t, db, true, "user_basic")
}

func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range serverSettings {
		def := s.Default
		if def == "" {
			def = "—"
		}
		row := "| `" + s.Env + "` | "
		if !strings.Contains(string(readme), row+"`"+def+"` |") && !strings.Contains(string(readme), row+def+" |") {
			t.Errorf("README has no row %q with default %q", s.Env, def)
		}
	}
}

func TestPlaygroundStartsWithTheDemoTokenInTheEmbeddedMode(t *testing.T) {
	addr, _, _ := startEmbedded(t, "-embedded-demo-users", "1")
	resp, page := servertest.Get(t, "http://"+addr+"/")
	if resp.StatusCode != 200 || !strings.Contains(page, `"Authorization":"Bearer ey`) {
		t.Errorf("the Playground page (%d) does not carry a default Authorization header:\n%.2000s", resp.StatusCode, page)
	}
}
