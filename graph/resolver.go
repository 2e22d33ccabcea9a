// Package graph is the GraphQL layer: the schema's resolvers, the handler
// that serves them and the error presenter that turns domain errors into
// extensions.code. Resolvers reach data only through the request's
// dataloaders, never Redis or SQL.
package graph

import "log/slog"

// Resolver is the root resolver and the only place resolvers get their
// dependencies from.
type Resolver struct {
	// MaxIDs caps the ids one users(ids:) field may ask for.
	MaxIDs int
	Log    *slog.Logger
}
