// Package storetest gives tests real servers when the environment names
// them, and the embedded engines otherwise, so `go test ./...` passes on a
// machine with only Go while CI runs every test on MariaDB and Redis.
//
//	HEADLINE_TEST_MYSQL_DSN  e.g. root@tcp(127.0.0.1:3306)/ : each test package gets its own database on it
//	HEADLINE_TEST_REDIS_URL  e.g. redis://127.0.0.1:6379    : each test package gets its own logical DB
//	HEADLINE_TEST_DB_SUFFIX  optional, appended to the database names, so that two checkouts can run their tests on one MariaDB at once
//
// It also counts what tests assert on: Redis commands and round trips (a
// go-redis hook) and SQL statements (a Bun query hook), starts servers of a
// test's own (redis-server, a cluster, Sentinel, MariaDB) and hands each
// test its own user ids (IDs).
//
// It imports store/sqldb (to open and migrate databases) and the domain;
// not store, so that store's subpackages can test with it.
package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/headline/headline"
	"github.com/headline/headline/store/sqldb"
)

const (
	MySQLEnv = "HEADLINE_TEST_MYSQL_DSN"
	RedisEnv = "HEADLINE_TEST_REDIS_URL"
)

// RealServices reports whether the tests run on real MariaDB and Redis, in
// which case a test that needs a real server binary must fail, not skip,
// when it is missing.
func RealServices() bool { return os.Getenv(MySQLEnv) != "" || os.Getenv(RedisEnv) != "" }

var (
	dbMu sync.Mutex
	dbs  = map[string]*bun.DB{}
)

// DB returns the migrated database of the test package pkg, empty when the
// package first asks for it: on HEADLINE_TEST_MYSQL_DSN a database
// headline_test_<pkg> (dropped and created again), else an in-memory SQLite.
// The database lives for the test binary; tests isolate by disjoint ids.
func DB(t testing.TB, pkg string) *bun.DB {
	t.Helper()
	dbMu.Lock()
	defer dbMu.Unlock()
	if db, ok := dbs[pkg]; ok {
		return db
	}
	ctx := context.Background()
	var db *bun.DB
	var err error
	if dsn := os.Getenv(MySQLEnv); dsn != "" {
		db, err = openMySQL(ctx, dsn, "headline_test_"+pkg+os.Getenv("HEADLINE_TEST_DB_SUFFIX"))
	} else {
		db, err = sqldb.OpenSQLite("file:headline_test_" + pkg + "?mode=memory&cache=shared")
	}
	if err != nil {
		t.Fatalf("storetest: open database for %s: %v", pkg, err)
	}
	if _, err := sqldb.Migrate(ctx, db); err != nil {
		t.Fatalf("storetest: migrate %s: %v", pkg, err)
	}
	dbs[pkg] = db
	return db
}

func openMySQL(ctx context.Context, dsn, name string) (*bun.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", MySQLEnv, err)
	}
	cfg.DBName = ""
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("connector: %w", err)
	}
	admin := sql.OpenDB(conn)
	defer admin.Close()
	for _, q := range []string{
		"DROP DATABASE IF EXISTS `" + name + "`",
		"CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
	} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	cfg.DBName = name
	db, err := sqldb.OpenMySQL(cfg.FormatDSN(), sqldb.PoolOptions{})
	if err != nil {
		return nil, err
	}
	// As the server does at start: the dialect learns the server's version.
	if err := sqldb.PingMySQL(ctx, db); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// Redis is a Redis server for one test.
type Redis struct {
	// Opt dials the server; callers build their own client from it, with
	// the settings under test.
	Opt *redis.Options
	// Raw is a client for setting up and inspecting the cache; it is not
	// counted.
	Raw *redis.Client
	// Mini is the embedded server, nil on a real Redis.
	Mini *miniredis.Miniredis
}

// NewRedis returns an empty Redis for one test: logical DB db of
// HEADLINE_TEST_REDIS_URL, flushed (each test package uses its own db
// number), or a fresh miniredis.
func NewRedis(t testing.TB, db int) *Redis {
	t.Helper()
	r := &Redis{}
	if url := os.Getenv(RedisEnv); url != "" {
		opt, err := redis.ParseURL(url)
		if err != nil {
			t.Fatalf("storetest: parse %s: %v", RedisEnv, err)
		}
		opt.DB = db
		r.Opt = opt
	} else {
		r.Mini = miniredis.RunT(t)
		r.Opt = &redis.Options{Addr: r.Mini.Addr()}
	}
	r.Raw = redis.NewClient(cloneOpt(r.Opt))
	t.Cleanup(func() { _ = r.Raw.Close() })
	if err := r.Raw.FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("storetest: flush redis db %d: %v", db, err)
	}
	return r
}

func cloneOpt(o *redis.Options) *redis.Options {
	c := *o
	return &c
}

// Options returns a copy of the dial options, for a client of the caller's.
func (r *Redis) Options() *redis.Options { return cloneOpt(r.Opt) }

// TTL returns the TTL of key as the server reports it.
func (r *Redis) TTL(t testing.TB, key string) time.Duration {
	t.Helper()
	d, err := r.Raw.TTL(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("TTL %s: %v", key, err)
	}
	return d
}

// RedisServer is a redis-server process of a test's own, on a free loopback
// port, for tests that kill or pause Redis.
type RedisServer struct {
	Addr  string
	bin   string
	port  int
	dir   string
	extra []string
	cmd   *exec.Cmd
}

// needBinary returns the path of a server binary a test starts itself. Without
// it the test is skipped, or fails when the tests run on real services (CI
// promises them).
func needBinary(t testing.TB, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if RealServices() {
			t.Fatalf("%s not found, but %s/%s promise real services", name, MySQLEnv, RedisEnv)
		}
		t.Skipf("%s not installed", name)
	}
	return bin
}

// StartRedisServer starts redis-server on a free port and stops it when the
// test ends. Without the binary the test is skipped, or fails when the tests
// run on real services (CI promises them).
func StartRedisServer(t testing.TB, extraArgs ...string) *RedisServer {
	t.Helper()
	bin := needBinary(t, "redis-server")
	port := FreePort(t)
	s := &RedisServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), bin: bin, port: port, dir: t.TempDir(), extra: extraArgs}
	t.Cleanup(s.Kill)
	s.Start(t)
	return s
}

// Start starts the server again on its port, empty, after Kill.
func (s *RedisServer) Start(t testing.TB) {
	t.Helper()
	args := append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir}, s.extra...)
	s.cmd = exec.Command(s.bin, args...)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	waitDial(t, s.Addr)
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (s *RedisServer) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// FreePort returns a loopback TCP port nobody listens on.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitDial(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after 10s", addr)
}

// RedisCounter counts the commands a client sends and its round trips (a
// pipeline is one round trip).
type RedisCounter struct {
	mu         sync.Mutex
	roundTrips int
	cmds       map[string]int
	prefix     string // count only commands whose first key starts so
}

// CountRedis attaches a counter to c.
func CountRedis(c interface{ AddHook(redis.Hook) }) *RedisCounter {
	return CountRedisKeys(c, "")
}

// CountRedisKeys attaches a counter to c that counts only commands on keys
// beginning with prefix (their first key), and round trips that send any.
func CountRedisKeys(c interface{ AddHook(redis.Hook) }, prefix string) *RedisCounter {
	rc := &RedisCounter{cmds: map[string]int{}, prefix: prefix}
	c.AddHook(rc)
	return rc
}

func (rc *RedisCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (rc *RedisCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		rc.add(cmd)
		return next(ctx, cmd)
	}
}

func (rc *RedisCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		rc.add(cmds...)
		return next(ctx, cmds)
	}
}

// handshake names the commands go-redis sends when it opens a connection;
// they are not the round trips a request makes.
var handshake = map[string]bool{"HELLO": true, "CLIENT": true, "SELECT": true, "AUTH": true, "READONLY": true}

func (rc *RedisCounter) add(cmds ...redis.Cmder) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	counted := false
	for _, c := range cmds {
		name := strings.ToUpper(c.Name())
		if handshake[name] {
			continue
		}
		if rc.prefix != "" {
			args := c.Args()
			if len(args) < 2 {
				continue
			}
			if k, ok := args[1].(string); !ok || !strings.HasPrefix(k, rc.prefix) {
				continue
			}
		}
		rc.cmds[name]++
		counted = true
	}
	if counted {
		rc.roundTrips++
	}
}

// Reset zeroes the counts.
func (rc *RedisCounter) Reset() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.roundTrips = 0
	rc.cmds = map[string]int{}
}

// RoundTrips is how many times the client went to the server.
func (rc *RedisCounter) RoundTrips() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.roundTrips
}

// Count returns how many commands named name (MGET, SET, …) were sent.
func (rc *RedisCounter) Count(name string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.cmds[strings.ToUpper(name)]
}

// String lists the counts, for failure messages.
func (rc *RedisCounter) String() string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return fmt.Sprintf("%d round trips %v", rc.roundTrips, rc.cmds)
}

// SQLCounter counts the statements run through a Bun DB, by first word.
type SQLCounter struct {
	mu    sync.Mutex
	stmts map[string]int
	last  []string
}

// CountSQL returns a copy of db whose statements are counted.
func CountSQL(db *bun.DB) (*bun.DB, *SQLCounter) {
	sc := &SQLCounter{stmts: map[string]int{}}
	return db.WithQueryHook(sc), sc
}

func (sc *SQLCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (sc *SQLCounter) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	verb, _, _ := strings.Cut(strings.TrimSpace(e.Query), " ")
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.stmts[strings.ToUpper(verb)]++
	sc.last = append(sc.last, e.Query)
}

// Count returns how many statements starting with verb (SELECT, …) ran.
func (sc *SQLCounter) Count(verb string) int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.stmts[strings.ToUpper(verb)]
}

// Queries returns the statements run, in order.
func (sc *SQLCounter) Queries() []string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return append([]string(nil), sc.last...)
}

// Reset zeroes the counts.
func (sc *SQLCounter) Reset() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.stmts = map[string]int{}
	sc.last = nil
}

// nextID is the next user id IDs hands out. It starts far above the ids
// tests chose by hand before IDs existed, and above the fault suite's and
// the benchmarks' seeded users.
var nextID atomic.Int64

func init() { nextID.Store(1_000_000_000) }

// IDs returns the first of n consecutive user ids that no other caller in
// this test binary gets. Tests isolate by user ids (a package shares one
// database and one Redis DB), so each test asks for its own block instead
// of picking numbers.
func IDs(t testing.TB, n int) int64 {
	t.Helper()
	if n <= 0 {
		t.Fatalf("storetest.IDs: want a positive count, got %d", n)
	}
	return nextID.Add(int64(n)) - int64(n)
}

// ShowUser renders u with its optional fields dereferenced, for failure
// messages: a *string prints as an address.
func ShowUser(u *headline.User) string {
	if u == nil {
		return "<nil>"
	}
	opt := func(p *string) string {
		if p == nil {
			return "null"
		}
		return strconv.Quote(*p)
	}
	return fmt.Sprintf("{ID:%d Name:%q Photo:%s Intro:%s Certi:%s}", u.ID, u.Name, opt(u.Photo), opt(u.Intro), opt(u.Certi))
}

// ShortTimeoutClient returns a go-redis client on opt with the short
// timeouts under test (100 ms, no retry), closed when the test ends.
func ShortTimeoutClient(t testing.TB, opt *redis.Options) *redis.Client {
	t.Helper()
	opt.DialTimeout = 100 * time.Millisecond
	opt.ReadTimeout = 100 * time.Millisecond
	opt.WriteTimeout = 100 * time.Millisecond
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// WaitUntil polls cond, every 100 µs, until it holds and returns how long
// that took; it fails t after within.
func WaitUntil(t testing.TB, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("waited %v for %s", within, what)
		}
		time.Sleep(100 * time.Microsecond)
	}
	return time.Since(start)
}
