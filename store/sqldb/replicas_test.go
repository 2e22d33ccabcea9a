package sqldb_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/sqlitedialect"

	"github.com/headline/headline/store/sqldb"
)

// TestReplicasRoundRobin checks the routing alone: reads alternate between
// the replicas, and writes and reads that ask for the primary never go to a
// replica. (TestReplicaFailureIsNotAnError covers a replica that fails.)
func TestReplicasRoundRobin(t *testing.T) {
	open := func() *sql.DB {
		db, err := sql.Open("mysql", "root@tcp(127.0.0.1:1)/none") // never dialled
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	r1, r2 := open(), open()
	rs := sqldb.NewReplicas([]string{"r1", "r2"}, []*sql.DB{r1, r2}, sqldb.ReplicaOptions{NoLagCheck: true, Retry: time.Hour})
	t.Cleanup(func() { _ = rs.Close() })
	// Only the kind of query matters; SQLite's dialect does not dial.
	db := bun.NewDB(open(), sqlitedialect.New())
	ctx := context.Background()
	sel := db.NewSelect().TableExpr("user_basic")

	seen := map[any]int{}
	for range 10 {
		seen[rs.ResolveConn(ctx, sel)]++
	}
	if seen[r1] != 5 || seen[r2] != 5 {
		t.Fatalf("10 reads went r1:%d r2:%d, want 5 and 5", seen[r1], seen[r2])
	}
	if c := rs.ResolveConn(sqldb.OnPrimary(ctx), sel); c != nil {
		t.Fatal("a read asking for the primary went to a replica")
	}
	if c := rs.ResolveConn(ctx, db.NewUpdate().TableExpr("user_basic").Set("x = 1")); c != nil {
		t.Fatal("an UPDATE went to a replica")
	}
	if c := rs.ResolveConn(ctx, db.NewInsert().TableExpr("user_basic")); c != nil {
		t.Fatal("an INSERT went to a replica")
	}
}
