// Package migrations holds the schema changes `server migrate` applies, in
// bun/migrate's form: one file a migration, named by its version.
package migrations

import "github.com/uptrace/bun/migrate"

// Migrations is every migration of the project, in version order.
var Migrations = migrate.NewMigrations()
