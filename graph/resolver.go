// Package graph is the GraphQL layer: the schema's resolvers, the handler
// that serves them (transports, document cache, limits, persisted queries),
// the planner that reads an operation's user lookups from the table of
// fields that look users up (lookups.go) and loads them as one batch, and
// the error presenter that turns domain errors into extensions.code.
// Resolvers read users through the request's dataloaders and write through
// Resolver.Profiles (updateMe), never Redis or SQL: graph imports the
// domain and dataloaders, not store.
package graph

import (
	"context"
	"log/slog"

	"github.com/headline/headline"
)

// Resolver is the root resolver and the only place resolvers get their
// dependencies from.
type Resolver struct {
	// MaxIDs caps the ids one users(ids:) field may ask for.
	MaxIDs int
	Log    *slog.Logger
	// Profiles applies profile edits (store.Profiles).
	Profiles ProfileUpdater

	// directPlainFields: no field interceptor wants plain fields, and
	// generated.go writes them directly (gqlgenrt.DirectPlainFields).
	directPlainFields bool
}

// DirectPlainFields reports whether plain fields, such as User.name, are
// written without a FieldContext or a pass through the field interceptors.
func (r *Resolver) DirectPlainFields() bool { return r.directPlainFields }

// ProfileUpdater changes a profile in the database and invalidates its
// cache entry.
type ProfileUpdater interface {
	Update(ctx context.Context, id headline.UserID, upd headline.ProfileUpdate) (*headline.User, error)
}
