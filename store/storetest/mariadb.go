package storetest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/headline/headline"
	"github.com/headline/headline/store/sqldb"
)

// MariaDBName is the database StartMariaDB creates and migrates.
const MariaDBName = "headline"

// MariaDB is a mariadbd process of a test's own, on a free loopback port and
// a data directory in the test's temporary directory, for tests that kill
// MySQL or count what it executes. Root has no password.
type MariaDB struct {
	// DSN is a go-sql-driver DSN for root on database MariaDBName.
	DSN string
	// Addr is host:port.
	Addr string
	// Admin is one connection (the pool holds at most one) for setting up
	// and inspecting the server: it counts once in Threads_connected.
	// After Kill and Start it reconnects by itself.
	Admin *sql.DB

	bin     string
	port    int
	dataDir string
	tmpDir  string
	logPath string
	args    []string // mariadbd's arguments beyond the data directory and port
	cmd     *exec.Cmd
	exited  chan struct{}
}

// StartMariaDB installs a fresh data directory with mariadb-install-db,
// starts mariadbd on it, creates database MariaDBName and migrates it, and
// stops the server when the test ends. Without the binaries the test is
// skipped, or fails when the tests run on real services (CI promises them).
func StartMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	m := startMariaDB(t, "--skip-log-bin")
	m.createAndMigrate(t)
	return m
}

// StartMariaDBReplicated starts a primary (binary log on) and a replica of
// it, replicating with GTIDs from the start, and then creates and migrates
// database MariaDBName on the primary and waits until the replica has it.
// The replica's Admin controls replication (STOP SLAVE SQL_THREAD …).
func StartMariaDBReplicated(t testing.TB) (primary, replica *MariaDB) {
	t.Helper()
	primary = startMariaDB(t, "--server-id=1", "--log-bin=binlog", "--binlog-format=ROW")
	replica = startMariaDB(t, "--server-id=2", "--skip-log-bin", "--read-only")
	ctx := context.Background()
	if _, err := replica.Admin.ExecContext(ctx, fmt.Sprintf(
		"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
		primary.port)); err != nil {
		t.Fatalf("CHANGE MASTER TO: %v", err)
	}
	if _, err := replica.Admin.ExecContext(ctx, "START SLAVE"); err != nil {
		t.Fatalf("START SLAVE: %v", err)
	}
	primary.createAndMigrate(t)
	cfg, _ := mysql.ParseDSN(primary.DSN)
	cfg.Addr = replica.Addr
	replica.DSN = cfg.FormatDSN()
	replica.WaitCaughtUp(t, primary)
	return primary, replica
}

// WaitCaughtUp waits until m, a replica, has applied everything primary has
// written, by GTID.
func (m *MariaDB) WaitCaughtUp(t testing.TB, primary *MariaDB) {
	t.Helper()
	ctx := context.Background()
	var pos string
	if err := primary.Admin.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatalf("read the primary's GTID position: %v", err)
	}
	var r int
	if err := m.Admin.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, 30)", pos).Scan(&r); err != nil || r != 0 {
		t.Fatalf("replica did not reach GTID %s in 30s (result %d, err %v):\n%s", pos, r, err, m.logTail())
	}
}

func startMariaDB(t testing.TB, args ...string) *MariaDB {
	t.Helper()
	install := lookBin("mariadb-install-db", "/usr/bin/mariadb-install-db", "/usr/local/bin/mariadb-install-db")
	server := lookBin("mariadbd", "/usr/sbin/mariadbd", "/usr/libexec/mariadbd", "/usr/local/sbin/mariadbd")
	if install == "" || server == "" {
		if RealServices() {
			t.Fatalf("mariadb-install-db or mariadbd not found, but %s/%s promise real services", MySQLEnv, RedisEnv)
		}
		t.Skip("mariadb-install-db or mariadbd not installed")
	}
	dir := t.TempDir()
	m := &MariaDB{
		bin:     server,
		port:    FreePort(t),
		dataDir: filepath.Join(dir, "data"),
		logPath: filepath.Join(dir, "mariadbd.log"),
		args:    args,
	}
	m.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(m.port))

	// A temporary directory of its own: mariadbd deletes the leftover
	// temporary tables it finds in its tmpdir at start, which, in a shared
	// /tmp, are another test's install in progress.
	m.tmpDir = filepath.Join(dir, "tmp")
	if err := os.Mkdir(m.tmpDir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(install, "--no-defaults", "--datadir="+m.dataDir, "--tmpdir="+m.tmpDir, "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput()
	if err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	t.Cleanup(m.Kill)
	m.Start(t)

	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = m.Addr
	cfg.Timeout = 2 * time.Second
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	admin.SetMaxOpenConns(1)
	admin.SetMaxIdleConns(1)
	m.Admin = admin
	t.Cleanup(func() { _ = admin.Close() })
	cfg.DBName = MariaDBName
	m.DSN = cfg.FormatDSN()
	return m
}

// createAndMigrate creates database MariaDBName and migrates it.
func (m *MariaDB) createAndMigrate(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	if _, err := m.Admin.ExecContext(ctx, "CREATE DATABASE `"+MariaDBName+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"); err != nil {
		t.Fatalf("create database: %v", err)
	}

	db, err := sqldb.OpenMySQL(m.DSN, sqldb.PoolOptions{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := sqldb.Migrate(ctx, db); err != nil {
		t.Fatalf("migrate: %v", err)
	}
}

func lookBin(name string, fallbacks ...string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range fallbacks {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

// Start starts mariadbd on the data directory and port it had, after Kill,
// and waits until it accepts connections. InnoDB recovers what a kill left.
func (m *MariaDB) Start(t testing.TB) {
	t.Helper()
	if m.cmd != nil {
		t.Fatalf("mariadbd on %s is already running", m.Addr)
	}
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(m.bin, "--no-defaults", "--datadir="+m.dataDir, "--tmpdir="+m.tmpDir, "--port="+strconv.Itoa(m.port),
		"--socket="+filepath.Join(m.dataDir, "sock"), "--bind-address=127.0.0.1", "--user=root")
	cmd.Args = append(cmd.Args, m.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mariadbd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	m.cmd, m.exited = cmd, exited

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			m.cmd = nil
			t.Fatalf("mariadbd exited at start:\n%s", m.logTail())
		default:
		}
		if m.answers() {
			return
		}
		if time.Now().After(deadline) {
			m.Kill()
			t.Fatalf("mariadbd does not answer on %s after 30s:\n%s", m.Addr, m.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answers reports whether the server completes a MySQL handshake (a
// listening port is not enough: mariadbd opens it before it is ready).
func (m *MariaDB) answers() bool {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr, cfg.Timeout = "root", "tcp", m.Addr, 500*time.Millisecond
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return false
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return db.PingContext(ctx) == nil
}

// Kill stops the server at once (SIGKILL to its PID), as a crash would.
func (m *MariaDB) Kill() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.exited
	m.cmd = nil
}

// Running reports whether the server process was started and not killed.
func (m *MariaDB) Running() bool { return m.cmd != nil }

// Seed inserts users with sqldb.InsertUsers over a connection of its own,
// closed before it returns.
func (m *MariaDB) Seed(t testing.TB, users ...headline.User) {
	t.Helper()
	db, err := sqldb.OpenMySQL(m.DSN, sqldb.PoolOptions{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := sqldb.InsertUsers(context.Background(), db, users...); err != nil {
		t.Fatal(err)
	}
}

// GlobalStatus returns a numeric server status variable (Com_select,
// Threads_connected, Max_used_connections …) read over Admin. SHOW
// statements do not count as Com_select.
func (m *MariaDB) GlobalStatus(t testing.TB, name string) int64 {
	t.Helper()
	for _, c := range name {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			t.Fatalf("GlobalStatus: %q is not a status variable name", name)
		}
	}
	var n string
	var v int64
	if err := m.Admin.QueryRowContext(context.Background(), "SHOW GLOBAL STATUS LIKE '"+name+"'").Scan(&n, &v); err != nil {
		t.Fatalf("SHOW GLOBAL STATUS LIKE %q: %v", name, err)
	}
	return v
}

// logTail is the end of mariadbd's log, for failure messages.
func (m *MariaDB) logTail() string {
	b, _ := os.ReadFile(m.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return fmt.Sprintf("(%s)\n%s", m.logPath, b)
}
