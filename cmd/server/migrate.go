package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/headline/headline/cmd/server/internal/settings"
	"github.com/headline/headline/store/migrations"
	"github.com/headline/headline/store/sqldb"
	"github.com/uptrace/bun"
)

// migrateArgs is a `server migrate` command line.
type migrateArgs struct {
	cmd   string // up, down or status
	dsn   string // MYSQL_DSN, or the -mysql-dsn flag over it
	force bool   // down: drop tables that hold rows
}

// migrateCommands are the commands of `server migrate`, with their help.
var migrateCommands = []struct{ name, help string }{
	{"up", "apply the pending migrations as one group: create user_basic unless it " +
		"exists, and write down that headline created it"},
	{"down", "roll back the last group: drop the tables headline created, and only those; " +
		"one that holds rows (the Flask app's, written since) is kept, and down stops, unless -force"},
	{"status", "list the migrations, applied or pending, and the tables down would drop"},
}

// parseMigrateArgs reads `server migrate`'s command line: the command,
// then flags (flags first work too). Only MYSQL_DSN is read from getenv: a
// migration uses no other setting.
func parseMigrateArgs(args []string, getenv func(string) string, out io.Writer) (migrateArgs, error) {
	a := migrateArgs{dsn: getenv("MYSQL_DSN")}
	fs := flag.NewFlagSet("server migrate", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { migrateUsage(fs.Output()) }
	fs.StringVar(&a.dsn, "mysql-dsn", a.dsn, "")
	fs.BoolVar(&a.force, "force", false, "")
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		a.cmd, args = args[0], args[1:]
	}
	if err := settings.ParseFlags(fs, args); err != nil {
		return a, err
	}
	rest := fs.Args()
	if a.cmd == "" && len(rest) > 0 {
		a.cmd, rest = rest[0], rest[1:]
	}
	switch {
	case a.cmd == "":
		// Once this applied the migrations: a bare `migrate` typed to see
		// what it does must not change the schema.
		migrateUsage(out)
		return a, settings.UsageError{Err: errors.New("migrate: no command: want up, down or status")}
	case !isMigrateCommand(a.cmd):
		return a, settings.UsageError{Err: fmt.Errorf("migrate: unknown command %q: want up, down or status", a.cmd)}
	case len(rest) > 0:
		return a, settings.UsageError{Err: fmt.Errorf("migrate %s: unexpected arguments %q", a.cmd, rest)}
	case a.force && a.cmd != "down":
		return a, settings.UsageError{Err: fmt.Errorf("migrate %s: -force is for down only", a.cmd)}
	}
	return a, nil
}

func isMigrateCommand(name string) bool {
	for _, c := range migrateCommands {
		if c.name == name {
			return true
		}
	}
	return false
}

// migrateUsage prints `server migrate -h`.
func migrateUsage(w io.Writer) {
	fmt.Fprint(w, "Usage: server migrate COMMAND [flags]\n\n")
	settings.PrintWrapped(w, "", "Changes the schema of the MySQL database MYSQL_DSN names, then exits. "+
		"The server never does it by itself: on the database the Flask app shares, a schema "+
		"change is a deliberate step of a deploy.")
	fmt.Fprint(w, "\nCommands:\n")
	for _, c := range migrateCommands {
		fmt.Fprintf(w, "  %s\n", c.name)
		settings.PrintWrapped(w, "      ", c.help)
	}
	fmt.Fprint(w, "\nFlags:\n")
	settings.PrintFlag(w, "mysql-dsn", "MYSQL_DSN", "the database, as a go-sql-driver DSN "+
		"(user:password@tcp(host:port)/dbname).")
	settings.PrintFlag(w, "force", "", "down only: drop the tables headline created even when they hold rows, "+
		"and the rows with them.")
}

// runMigrate changes the schema of the configured MySQL: `up` creates the
// tables headline needs, `down` undoes the last `up`, `status` lists both.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	a, err := parseMigrateArgs(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if a.dsn == "" {
		return errors.New("migrate: MYSQL_DSN is not set")
	}
	db, err := sqldb.OpenMySQL(a.dsn, sqldb.PoolOptions{MaxOpen: 2, ReadTimeout: migrateReadTimeout})
	if err != nil {
		return err
	}
	defer db.Close()
	addr := sqldb.MySQLAddr(a.dsn)
	err = awaitNoticed(ctx, mysqlStartWait, func() {
		fmt.Fprintf(stdout, "migrate: waiting for MySQL at %s to answer (up to %v)\n", addr, mysqlStartWait)
	}, func(ctx context.Context) error { return sqldb.PingMySQL(ctx, db) })
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return fmt.Errorf("migrate: stopped while waiting for MySQL at %s", addr)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("migrate: MySQL at %s did not answer within %v", addr, mysqlStartWait)
	case err != nil:
		return fmt.Errorf("migrate: MySQL at %s: %w", addr, err)
	}
	return migrateCommand(ctx, db, a, stdout)
}

// migrateReadTimeout is how long a migration's statement may wait for the
// server (unless the DSN sets readTimeout): longer than the server's,
// since DDL may rebuild a table or wait for the Flask app's transactions on
// it to end. A server that never answers is caught by the start's wait
// instead, and SIGTERM or ^C stops a migration at any point.
const migrateReadTimeout = time.Hour

// migrateCommand runs a's command on db and, when down keeps a table that
// holds rows, says how to drop it anyway.
func migrateCommand(ctx context.Context, db *bun.DB, a migrateArgs, stdout io.Writer) error {
	err := sqldb.RunMigrateCommand(ctx, db, a.cmd, a.force, stdout)
	if _, kept := errors.AsType[*migrations.TableHoldsRowsError](err); kept {
		return fmt.Errorf("%w; its migration stays applied (server migrate down -force drops the table with its rows)", err)
	}
	return err
}
