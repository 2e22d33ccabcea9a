package migrations

import (
	"context"
	"database/sql/driver"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// headline shares its database with the Toutiao backend, whose tables may
// exist before any migration of headline's runs. A rollback must drop only
// what headline made, so headline writes down each table it creates, in a
// table of its own, rather than in the table: a table comment would change
// the Toutiao schema (user_basic already has a comment, which the backend's
// own migrations could rewrite) and SQLite has none. A table missing from the
// record is never dropped; databases migrated before the record existed have
// none, so their tables are kept.
const createdTables = "headline_created_tables"

const createdTablesDDL = "CREATE TABLE IF NOT EXISTS " + createdTables + ` (
  table_name VARCHAR(64) NOT NULL PRIMARY KEY,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
)`

// tableExists reports whether the database db is connected to has a table
// called name.
func tableExists(ctx context.Context, db bun.IDB, name string) (bool, error) {
	q := "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	if db.Dialect().Name() == dialect.SQLite {
		q = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	}
	var n int
	if err := db.NewRaw(q, name).Scan(ctx, &n); err != nil {
		return false, fmt.Errorf("look for table %s: %w", name, err)
	}
	return n > 0, nil
}

// createTable runs ddl, a CREATE TABLE without IF NOT EXISTS, unless the
// table already exists, and records that headline created it. It runs under
// the migration lock, which keeps other headline migrators out, but not the
// Toutiao backend: if that creates the table between the check and the DDL,
// the DDL fails, the migration is not marked applied, and the next run finds
// the table and leaves it alone — never is a table made elsewhere recorded as
// headline's. The table is created before it is recorded (MySQL cannot do
// both in one transaction), so a crash in between leaves a table that a
// rollback keeps, not a record of a table headline did not make.
func createTable(ctx context.Context, db bun.IDB, name, ddl string) (created bool, err error) {
	if _, err := db.ExecContext(ctx, createdTablesDDL); err != nil {
		return false, fmt.Errorf("create %s: %w", createdTables, err)
	}
	exists, err := tableExists(ctx, db, name)
	if err != nil || exists {
		return false, err
	}
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		return false, fmt.Errorf("create %s: %w", name, err)
	}
	if _, err := db.NewRaw("INSERT INTO "+createdTables+" (table_name) VALUES (?)", name).Exec(ctx); err != nil {
		return true, fmt.Errorf("record that headline created %s: %w", name, err)
	}
	return true, nil
}

// dropRowsKey marks a context on which a rollback may drop tables that
// hold rows.
type dropRowsKey struct{}

// WithDropRows returns ctx on which a rollback drops the tables headline
// created even when they hold rows, and the rows with them.
func WithDropRows(ctx context.Context) context.Context {
	return context.WithValue(ctx, dropRowsKey{}, true)
}

func dropRowsAllowed(ctx context.Context) bool {
	ok, _ := ctx.Value(dropRowsKey{}).(bool)
	return ok
}

// TableHoldsRowsError is a rollback that kept a table headline created
// because it holds rows: on the database the Flask app shares, they are
// its users' rows, written since.
type TableHoldsRowsError struct {
	Table string
	Rows  int64
}

func (e *TableHoldsRowsError) Error() string {
	return e.Table + " holds " + RowsText(e.Rows) + ": not dropped"
}

// RowsText says how many rows n is: "1 row", "3 rows".
func RowsText(n int64) string {
	if n == 1 {
		return "1 row"
	}
	return fmt.Sprintf("%d rows", n)
}

// dropTable drops table name if headline's record says headline created it
// and it is empty, or ctx comes from WithDropRows; then it forgets it, and
// the record's own table goes when it is left empty. A table headline did
// not create is left as it is; one that holds rows is a
// *TableHoldsRowsError. Running it again does nothing.
//
// On MySQL the table is locked from the count to the drop, so that no row
// the Flask app writes in between goes unseen.
func dropTable(ctx context.Context, db *bun.DB, name string) (dropped bool, err error) {
	owned, err := CreatedTables(ctx, db)
	if err != nil {
		return false, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("drop %s: %w", name, err)
	}
	defer conn.Close()
	if i := slices.Index(owned, name); i >= 0 {
		if db.Dialect().Name() == dialect.MySQL {
			if _, err := conn.ExecContext(ctx, "LOCK TABLES "+name+" WRITE, "+createdTables+" WRITE"); err != nil {
				return false, fmt.Errorf("lock %s: %w", name, err)
			}
			defer unlockTables(ctx, conn)
		}
		rows, err := countRows(ctx, &conn, name)
		if err != nil {
			return false, err
		}
		if rows > 0 && !dropRowsAllowed(ctx) {
			return false, &TableHoldsRowsError{Table: name, Rows: rows}
		}
		if _, err := conn.ExecContext(ctx, "DROP TABLE IF EXISTS "+name); err != nil {
			return false, fmt.Errorf("drop %s: %w", name, err)
		}
		if _, err := conn.NewRaw("DELETE FROM "+createdTables+" WHERE table_name = ?", name).Exec(ctx); err != nil {
			return true, fmt.Errorf("forget %s: %w", name, err)
		}
		owned, dropped = slices.Delete(owned, i, i+1), true
	}
	if len(owned) == 0 {
		if _, err := conn.ExecContext(ctx, "DROP TABLE IF EXISTS "+createdTables); err != nil {
			return dropped, fmt.Errorf("drop %s: %w", createdTables, err)
		}
	}
	return dropped, nil
}

// unlockTables ends conn's LOCK TABLES, even when ctx has ended: the
// connection goes back to the pool, where a lock would stay with it.
func unlockTables(ctx context.Context, conn bun.Conn) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		// Take the connection out of the pool rather than return it locked.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}

// countRows counts the rows of table name.
func countRows(ctx context.Context, db bun.IDB, name string) (int64, error) {
	var n int64
	if err := db.NewRaw("SELECT COUNT(*) FROM "+name).Scan(ctx, &n); err != nil {
		return 0, fmt.Errorf("count the rows of %s: %w", name, err)
	}
	return n, nil
}

// RowCounts counts the rows of each of tables.
func RowCounts(ctx context.Context, db bun.IDB, tables []string) (map[string]int64, error) {
	counts := make(map[string]int64, len(tables))
	for _, name := range tables {
		n, err := countRows(ctx, db, name)
		if err != nil {
			return nil, err
		}
		counts[name] = n
	}
	return counts, nil
}

// CreatedTables lists the tables headline's migrations created and a
// rollback would drop, by name; none when nothing is recorded.
func CreatedTables(ctx context.Context, db bun.IDB) ([]string, error) {
	exists, err := tableExists(ctx, db, createdTables)
	if err != nil || !exists {
		return nil, err
	}
	var names []string
	if err := db.NewRaw("SELECT table_name FROM "+createdTables+" ORDER BY table_name").Scan(ctx, &names); err != nil {
		return nil, fmt.Errorf("read %s: %w", createdTables, err)
	}
	return names, nil
}
