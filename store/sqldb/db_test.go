package sqldb_test

import (
	"context"
	"log"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/feature"

	"github.com/headline/headline/store/sqldb"
	"github.com/headline/headline/store/storetest"
)

// TestMySQLThatNeverAnswers: on a server that accepts and never answers,
// OpenMySQL returns at once (bun's version probe, which has no context, no
// longer runs in it), PingMySQL returns when its context ends, and a
// statement with no deadline of its own ends at the read timeout.
func TestMySQLThatNeverAnswers(t *testing.T) {
	silent := storetest.StartUnanswering(t)
	var driverLog storetest.SyncBuffer
	sqldb.LogMySQLDriverTo(slog.New(slog.NewTextHandler(&driverLog, nil)))
	t.Cleanup(func() { _ = mysql.SetLogger(log.New(os.Stderr, "[mysql] ", log.Ldate|log.Ltime|log.Lshortfile)) })
	within := func(t *testing.T, what string, limit time.Duration, f func() error) error {
		t.Helper()
		done := make(chan error, 1)
		began := time.Now()
		go func() { done <- f() }()
		select {
		case err := <-done:
			t.Logf("%s returned after %v: %v", what, time.Since(began).Round(time.Millisecond), err)
			return err
		case <-time.After(limit):
			t.Fatalf("%s has not returned after %v", what, limit)
			return nil
		}
	}

	open := func(t *testing.T, dsn string, pool sqldb.PoolOptions) *bun.DB {
		t.Helper()
		var db *bun.DB
		err := within(t, "OpenMySQL", 5*time.Second, func() (err error) {
			db, err = sqldb.OpenMySQL(dsn, pool)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}

	db := open(t, "root@tcp("+silent.Addr+")/toutiao", sqldb.PoolOptions{ReadTimeout: 300 * time.Millisecond})
	if n := silent.Accepted(); n != 0 {
		t.Errorf("OpenMySQL connected %d times, want none", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := within(t, "PingMySQL with a 300ms context", 5*time.Second, func() error { return sqldb.PingMySQL(ctx, db) }); err == nil {
		t.Error("PingMySQL succeeded on a server that never answers")
	}
	// No context: only the read timeout, the pool's 300ms, bounds it.
	if err := within(t, "a ping with no deadline", 5*time.Second, func() error { return db.PingContext(context.Background()) }); err == nil {
		t.Error("the ping succeeded on a server that never answers")
	}
	// The DSN's own read timeout wins over the pool's hour.
	db = open(t, "root@tcp("+silent.Addr+")/toutiao?readTimeout=300ms", sqldb.PoolOptions{ReadTimeout: time.Hour})
	if err := within(t, "a ping with no deadline, readTimeout=300ms", 5*time.Second, func() error { return db.PingContext(context.Background()) }); err == nil {
		t.Error("the ping succeeded on a server that never answers")
	}
	if got := driverLog.String(); !strings.Contains(got, `level=WARN msg="go-sql-driver: packets.go:`) || !strings.Contains(got, "i/o timeout") {
		t.Errorf("the driver's own log lines are not in the structured log:\n%s", got)
	}
	if n := silent.Accepted(); n < 3 {
		t.Errorf("the server got %d connections, want one per ping", n)
	}
}

// TestPingMySQLLearnsTheVersion: the dialect learns the server's version
// at the first PingMySQL, as bun.NewDB would have: on MariaDB ≥ 10.5,
// INSERT … RETURNING.
func TestPingMySQLLearnsTheVersion(t *testing.T) {
	dsn := os.Getenv(storetest.MySQLEnv)
	if dsn == "" {
		t.Skip("needs MariaDB: set " + storetest.MySQLEnv)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = "mysql"
	db, err := sqldb.OpenMySQL(cfg.FormatDSN(), sqldb.PoolOptions{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version string
	if err := db.QueryRowContext(context.Background(), "SELECT version()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if db.Dialect().Features().Has(feature.InsertReturning) {
		t.Fatalf("the dialect knows the version before PingMySQL")
	}
	if err := sqldb.PingMySQL(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	if !db.Dialect().Features().Has(feature.InsertReturning) {
		t.Errorf("after PingMySQL on %s the dialect lacks INSERT … RETURNING", version)
	}
}
