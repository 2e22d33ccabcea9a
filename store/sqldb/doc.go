// Package sqldb is the SQL side of the profiles, through Bun: opening MySQL
// (timeouts, bounded pools) and the embedded SQLite, reading, updating and
// inserting user_basic rows, routing reads to MySQL replicas, and running
// the migrations of store/migrations.
//
// It imports the domain package (headline), Bun and the drivers; not Redis,
// and not the rest of store.
package sqldb
