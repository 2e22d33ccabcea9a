package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/mysqldialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// PoolOptions bounds the database connection pool, so that a burst of
// requests cannot exhaust the database's connections, and bounds how long
// a connection waits on the server. Zero fields take their values in
// DefaultPoolOptions.
type PoolOptions struct {
	// MaxOpen is the most connections open at once.
	MaxOpen int
	// MaxIdle is the most idle connections kept; zero, or more than
	// MaxOpen: MaxOpen.
	MaxIdle int
	// MaxLifetime closes connections older than this.
	MaxLifetime time.Duration
	// DialTimeout bounds connecting, unless the DSN sets its own (timeout).
	DialTimeout time.Duration
	// ReadTimeout and WriteTimeout bound each wait for the server to send
	// or take bytes, unless the DSN sets its own (readTimeout,
	// writeTimeout, even 0).
	ReadTimeout, WriteTimeout time.Duration
}

// DefaultPoolOptions are the pool's defaults.
//
// Without read and write timeouts a connection waits on the server as long
// as the OS keeps the socket: a server that accepts and never answers
// (another service on the port, a hung host) holds the statement, and
// whoever waits on it, for good. A request's statements are bounded by its
// context too; these bound those with no deadline, and the handshake. 30 s
// is far above any statement the server runs (a batch SELECT takes
// milliseconds, updateMe's transaction a few) and twice the HTTP write
// timeout, after which no client reads the answer; a row lock that another
// writer holds longer (InnoDB waits up to innodb_lock_wait_timeout, 50 s by
// default) fails at 30 s. The driver's own dial timeout is the OS's,
// minutes.
var DefaultPoolOptions = PoolOptions{
	MaxOpen:      32,
	MaxLifetime:  5 * time.Minute,
	DialTimeout:  2 * time.Second,
	ReadTimeout:  30 * time.Second,
	WriteTimeout: 30 * time.Second,
}

func (o PoolOptions) withDefaults() PoolOptions {
	d := DefaultPoolOptions
	o.MaxOpen = positiveOr(o.MaxOpen, d.MaxOpen)
	if o.MaxIdle <= 0 || o.MaxIdle > o.MaxOpen {
		o.MaxIdle = o.MaxOpen
	}
	o.MaxLifetime = positiveOr(o.MaxLifetime, d.MaxLifetime)
	o.DialTimeout = positiveOr(o.DialTimeout, d.DialTimeout)
	o.ReadTimeout = positiveOr(o.ReadTimeout, d.ReadTimeout)
	o.WriteTimeout = positiveOr(o.WriteTimeout, d.WriteTimeout)
	return o
}

// positiveOr is v, or def when v is not positive (zero: the default).
func positiveOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// apply bounds db's pool; o has its defaults.
func (o PoolOptions) apply(db *sql.DB) {
	db.SetMaxOpenConns(o.MaxOpen)
	db.SetMaxIdleConns(o.MaxIdle)
	db.SetConnMaxLifetime(o.MaxLifetime)
}

// OpenMySQL opens a MySQL or MariaDB database from a go-sql-driver DSN
// (user:pass@tcp(host:port)/db). It does not connect; PingMySQL does.
func OpenMySQL(dsn string, pool PoolOptions) (*bun.DB, error) {
	sdb, _, err := openMySQLPool(dsn, "MYSQL_DSN", pool)
	if err != nil {
		return nil, err
	}
	return bun.NewDB(sdb, newMySQLDialect()), nil
}

// mysqlDialect is bun's MySQL dialect with its Init, which bun.NewDB calls
// to ask the server its version, left to PingMySQL. Init asks with no
// context: on a server that accepts and never answers it would hold
// bun.NewDB, and with it the start and any signal to stop, for the whole
// read timeout.
type mysqlDialect struct {
	*mysqldialect.Dialect
	asked atomic.Bool
}

func newMySQLDialect() *mysqlDialect { return &mysqlDialect{Dialect: mysqldialect.New()} }

func (*mysqlDialect) Init(*sql.DB) {}

// PingMySQL waits, within ctx, for db's server to take a connection and
// answer it. The first time it does, it also asks the server's version,
// which bun's dialect needs (until then it assumes the oldest MySQL, as bun
// does when it cannot ask). Call it before db serves queries: the dialect
// is not safe to change while they run.
func PingMySQL(ctx context.Context, db *bun.DB) error {
	if err := db.PingContext(ctx); err != nil {
		return err
	}
	if d, ok := db.Dialect().(*mysqlDialect); ok && d.asked.CompareAndSwap(false, true) {
		// On the connection the ping left idle, which has just answered.
		d.Dialect.Init(db.DB)
	}
	return nil
}

// IsMySQLConfigError reports whether err is MySQL refusing what the DSN
// asks for: the user, its password, the database, TLS, the authentication
// method. Waiting will not change it, unlike a server that is down.
func IsMySQLConfigError(err error) bool {
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok {
		switch me.Number {
		case 1044, // access denied for user to database
			1045, // access denied for user (using password: …)
			1049, // unknown database
			1698: // access denied for user, without a password (unix_socket)
			return true
		}
	}
	for _, e := range []error{mysql.ErrNoTLS, mysql.ErrCleartextPassword, mysql.ErrNativePassword, mysql.ErrOldPassword, mysql.ErrUnknownPlugin} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// MySQLAddr is the server address of a DSN, for logs and errors: never
// the DSN, which may hold a password. Empty if the DSN does not parse.
func MySQLAddr(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return ""
	}
	return cfg.Addr
}

// mysqlConfig parses dsn, which the setting what names, and gives it the
// timeouts of pool (which has its defaults) where it sets none of its own.
func mysqlConfig(dsn, what string, pool PoolOptions) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		// The DSN may hold a password: say what is wrong, not what it is.
		return nil, fmt.Errorf("parse %s: malformed go-sql-driver DSN", what)
	}
	set := dsnParams(dsn)
	for _, t := range []struct {
		param string
		field *time.Duration
		def   time.Duration
	}{
		{"timeout", &cfg.Timeout, pool.DialTimeout},
		{"readTimeout", &cfg.ReadTimeout, pool.ReadTimeout},
		{"writeTimeout", &cfg.WriteTimeout, pool.WriteTimeout},
	} {
		if !set[t.param] {
			*t.field = t.def
		}
	}
	return cfg, nil
}

// dsnParams lists the parameters a go-sql-driver DSN sets: those after the
// "?" that follows its last "/", where the driver looks for them.
func dsnParams(dsn string) map[string]bool {
	_, query, ok := strings.Cut(dsn[strings.LastIndexByte(dsn, '/')+1:], "?")
	set := map[string]bool{}
	if !ok {
		return set
	}
	for _, kv := range strings.Split(query, "&") {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	return set
}

// openMySQLPool opens a bounded pool on dsn, which the setting what names,
// and returns it with the server's address.
func openMySQLPool(dsn, what string, pool PoolOptions) (*sql.DB, string, error) {
	pool = pool.withDefaults()
	cfg, err := mysqlConfig(dsn, what, pool)
	if err != nil {
		return nil, "", err
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("%s connector: %w", what, err)
	}
	sdb := sql.OpenDB(connector)
	pool.apply(sdb)
	return sdb, cfg.Addr, nil
}

// OpenSQLite opens the embedded SQL engine at path (":memory:" for a
// database that lives as long as the process).
func OpenSQLite(path string) (*bun.DB, error) {
	dsn := path
	if path == ":memory:" {
		// One shared in-memory database for all connections of the pool.
		dsn = "file::memory:?cache=shared"
	}
	sdb, err := sql.Open("sqlite", dsn+sep(dsn)+"_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// SQLite takes one writer at a time; one connection avoids lock errors
	// and is plenty for the embedded mode.
	sdb.SetMaxOpenConns(1)
	return bun.NewDB(sdb, sqlitedialect.New()), nil
}

func sep(dsn string) string {
	if strings.Contains(dsn, "?") {
		return "&"
	}
	return "?"
}

// LogMySQLDriverTo sends what go-sql-driver logs by itself (a connection
// that broke or timed out, which it then retires) to log, as warnings.
// Its logger is process-wide.
func LogMySQLDriverTo(log *slog.Logger) {
	_ = mysql.SetLogger(driverLog{log})
}

type driverLog struct{ log *slog.Logger }

func (l driverLog) Print(v ...any) {
	l.log.Warn("go-sql-driver: " + strings.TrimSpace(fmt.Sprint(v...)))
}
