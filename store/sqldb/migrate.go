package sqldb

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"

	"github.com/headline/headline/store/migrations"
)

// migrateLockWait bounds how long a migration waits for another one's
// lock: long enough for any migration of this project, short enough that a
// lock a crashed run left behind is reported rather than waited on forever.
const migrateLockWait = time.Minute

// newMigrator returns bun/migrate's migrator of the project's migrations,
// with its tables made.
func newMigrator(ctx context.Context, db *bun.DB) (*migrate.Migrator, error) {
	m := migrate.NewMigrator(db, migrations.Migrations, migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("migrate init: %w", err)
	}
	return m, nil
}

// locked runs f holding bun/migrate's lock. bun's Lock fails at once when
// another run holds it; two deploys that migrate at once should both
// succeed, one after the other, so a held lock is waited for (up to
// migrateLockWait, polling).
func locked(ctx context.Context, m *migrate.Migrator, f func() error) (err error) {
	deadline := time.Now().Add(migrateLockWait)
	freed := false
	for {
		lerr := m.Lock(ctx)
		if lerr == nil {
			break
		}
		var held int
		if err := m.DB().NewRaw("SELECT COUNT(*) FROM bun_migration_locks").Scan(ctx, &held); err != nil {
			return fmt.Errorf("migrate lock: %w", lerr)
		}
		if held == 0 {
			// The holder let go in between: try again at once, but only
			// once; a lock failing with no holder is the database failing.
			if freed {
				return fmt.Errorf("migrate lock: %w", lerr)
			}
			freed = true
			continue
		}
		freed = false
		if time.Now().After(deadline) {
			return fmt.Errorf("migrate lock: another migration has held it for over %v; if none runs, a crashed one left it behind: DELETE FROM bun_migration_locks", migrateLockWait)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("migrate lock: waiting for another migration's lock (bun_migration_locks): %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	defer func() {
		// Not ctx: a run whose context ended must still give the lock back;
		// but not wait on a server that stopped answering either.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if uerr := m.Unlock(uctx); uerr != nil && err == nil {
			err = fmt.Errorf("migrate unlock: %w", uerr)
		}
	}()
	return f()
}

// Migrate applies the project's pending migrations as one group, under
// bun/migrate's lock, so that of two deploys running it at once one applies
// them and the other finds nothing to do.
func Migrate(ctx context.Context, db *bun.DB) (applied []string, err error) {
	m, err := newMigrator(ctx, db)
	if err != nil {
		return nil, err
	}
	err = locked(ctx, m, func() error {
		group, err := m.Migrate(ctx)
		for _, mig := range group.Migrations {
			applied = append(applied, mig.String())
		}
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		return nil
	})
	return applied, err
}

// RollbackOptions tunes Rollback.
type RollbackOptions struct {
	// DropRows drops the tables headline created even when they hold
	// rows. Without it a table that holds rows is kept, and the rollback
	// stops there with a *migrations.TableHoldsRowsError.
	DropRows bool
}

// Rollback rolls back the last applied group of migrations, under the lock,
// and lists them in the order they were undone; none when nothing is applied.
// A migration's rollback drops only what it created (see
// migrations.CreatedTables), and only if it is empty unless opts says
// otherwise: on the database the Flask app shares, rows written since are
// its users'. A migration whose rollback fails stays applied.
func Rollback(ctx context.Context, db *bun.DB, opts RollbackOptions) (rolledBack []string, err error) {
	m, err := newMigrator(ctx, db)
	if err != nil {
		return nil, err
	}
	if opts.DropRows {
		ctx = migrations.WithDropRows(ctx)
	}
	err = locked(ctx, m, func() error {
		group, err := m.Rollback(ctx)
		if err != nil {
			return fmt.Errorf("migrate down: %w", err)
		}
		for i := len(group.Migrations) - 1; i >= 0; i-- {
			rolledBack = append(rolledBack, group.Migrations[i].String())
		}
		return nil
	})
	return rolledBack, err
}

// MigrationStatus lists every migration with whether it is applied, and in
// which group (what one down undoes), then the tables a rollback would drop
// because headline created them.
func MigrationStatus(ctx context.Context, db *bun.DB) ([]string, error) {
	m, err := newMigrator(ctx, db)
	if err != nil {
		return nil, err
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	var out []string
	for _, mig := range ms {
		state := "pending"
		if mig.IsApplied() {
			state = fmt.Sprintf("applied (group %d)", mig.GroupID)
		}
		out = append(out, mig.String()+" "+state)
	}
	created, err := migrations.CreatedTables(ctx, db)
	if err != nil {
		return nil, err
	}
	rows, err := migrations.RowCounts(ctx, db, created)
	if err != nil {
		return nil, err
	}
	described := []string{"none"}
	if len(created) > 0 {
		described = described[:0]
	}
	for _, name := range created {
		if n := rows[name]; n > 0 {
			described = append(described, name+" (holds "+migrations.RowsText(n)+": only down -force drops it)")
		} else {
			described = append(described, name+" (empty)")
		}
	}
	return append(out, "tables headline created, which down drops: "+strings.Join(described, ", ")), nil
}

// RunMigrateCommand runs one command of `server migrate` on db — up,
// down (dropping tables that hold rows only with force) or status — and
// writes what it did to stdout, a line each.
func RunMigrateCommand(ctx context.Context, db *bun.DB, cmd string, force bool, stdout io.Writer) error {
	switch cmd {
	case "up":
		applied, err := Migrate(ctx, db)
		for _, m := range applied {
			fmt.Fprintln(stdout, "migrate: applied", m)
		}
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintln(stdout, "migrate: nothing to do")
		}
	case "down":
		undone, err := Rollback(ctx, db, RollbackOptions{DropRows: force})
		for _, m := range undone {
			fmt.Fprintln(stdout, "migrate: rolled back", m)
		}
		if err != nil {
			return err
		}
		if len(undone) == 0 {
			fmt.Fprintln(stdout, "migrate: nothing to roll back")
		}
	case "status":
		lines, err := MigrationStatus(ctx, db)
		if err != nil {
			return err
		}
		for _, l := range lines {
			fmt.Fprintln(stdout, l)
		}
	default:
		return fmt.Errorf("migrate: unknown command %q (want up, down or status)", cmd)
	}
	return nil
}
