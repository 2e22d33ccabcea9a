package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/mysqldialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/migrate"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/headline/headline/store/migrations"
)

// PoolOptions bounds the database connection pool, so that a burst of
// requests cannot exhaust the database's connections.
type PoolOptions struct {
	// MaxOpen is the most connections open at once. Default: 32.
	MaxOpen int
	// MaxIdle is the most idle connections kept. Default: MaxOpen.
	MaxIdle int
	// MaxLifetime closes connections older than this. Default: 5m.
	MaxLifetime time.Duration
}

func (o PoolOptions) apply(db *sql.DB) {
	if o.MaxOpen <= 0 {
		o.MaxOpen = 32
	}
	if o.MaxIdle <= 0 || o.MaxIdle > o.MaxOpen {
		o.MaxIdle = o.MaxOpen
	}
	if o.MaxLifetime <= 0 {
		o.MaxLifetime = 5 * time.Minute
	}
	db.SetMaxOpenConns(o.MaxOpen)
	db.SetMaxIdleConns(o.MaxIdle)
	db.SetConnMaxLifetime(o.MaxLifetime)
}

// OpenMySQL opens a MySQL or MariaDB database from a go-sql-driver DSN
// (user:pass@tcp(host:port)/db). It does not connect; Ping does.
func OpenMySQL(dsn string, pool PoolOptions) (*bun.DB, error) {
	sqldb, _, err := openMySQLPool(dsn, "MYSQL_DSN", pool)
	if err != nil {
		return nil, err
	}
	return bun.NewDB(sqldb, mysqldialect.New()), nil
}

// openMySQLPool opens a bounded pool on dsn, which the setting what names,
// and returns it with the server's address.
func openMySQLPool(dsn, what string, pool PoolOptions) (*sql.DB, string, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		// The DSN may hold a password: say what is wrong, not what it is.
		return nil, "", fmt.Errorf("parse %s: malformed go-sql-driver DSN", what)
	}
	// The driver's dial timeout defaults to the OS's (minutes); a dead MySQL
	// must fail a request in seconds.
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("%s connector: %w", what, err)
	}
	sqldb := sql.OpenDB(connector)
	pool.apply(sqldb)
	return sqldb, cfg.Addr, nil
}

// OpenSQLite opens the embedded SQL engine at path (":memory:" for a
// database that lives as long as the process).
func OpenSQLite(path string) (*bun.DB, error) {
	dsn := path
	if path == ":memory:" {
		// One shared in-memory database for all connections of the pool.
		dsn = "file::memory:?cache=shared"
	}
	sqldb, err := sql.Open("sqlite", dsn+sep(dsn)+"_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// SQLite takes one writer at a time; one connection avoids lock errors
	// and is plenty for the embedded mode.
	sqldb.SetMaxOpenConns(1)
	return bun.NewDB(sqldb, sqlitedialect.New()), nil
}

func sep(dsn string) string {
	for i := 0; i < len(dsn); i++ {
		if dsn[i] == '?' {
			return "&"
		}
	}
	return "?"
}

// Migrate applies the project's pending migrations under bun/migrate's lock,
// so two deploys running it at once do not both apply them.
func Migrate(ctx context.Context, db *bun.DB) (applied []string, err error) {
	m := migrate.NewMigrator(db, migrations.Migrations, migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("migrate init: %w", err)
	}
	if err := m.Lock(ctx); err != nil {
		return nil, fmt.Errorf("migrate lock: %w", err)
	}
	defer func() {
		if uerr := m.Unlock(ctx); uerr != nil && err == nil {
			err = fmt.Errorf("migrate unlock: %w", uerr)
		}
	}()
	group, err := m.Migrate(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	for _, mig := range group.Migrations {
		applied = append(applied, mig.String())
	}
	return applied, nil
}

// MigrationStatus lists every migration with whether it is applied.
func MigrationStatus(ctx context.Context, db *bun.DB) ([]string, error) {
	m := migrate.NewMigrator(db, migrations.Migrations)
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("migrate init: %w", err)
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	var out []string
	for _, mig := range ms {
		state := "pending"
		if mig.IsApplied() {
			state = "applied"
		}
		out = append(out, mig.String()+" "+state)
	}
	return out, nil
}
