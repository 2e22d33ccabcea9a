// Package headline holds the domain of the profile service: the user it
// serves, the ids that name users, and errors that carry a code. It depends on
// nothing but the standard library; packages named after a dependency (store,
// graph, dataloaders) build on it.
package headline

import (
	"context"
	"strconv"
)

// User is the public profile of a user, as the Toutiao backend caches it.
// Whether the account is disabled is not part of it: sign-in asks the store
// for that beside the profile.
type User struct {
	ID    int64
	Name  string
	Photo *string
	Intro *string
	Certi *string
}

// UserID names a user. The Toutiao table keys users by BIGINT UNSIGNED, but
// ids are handed around as int64, so the range served is 1..2^63-1.
type UserID = int64

// IsEntity marks User as an Apollo Federation entity (the schema's
// `@key(fields: "id")`): gqlgen's _Entity union is bound to an interface of
// this one method.
func (User) IsEntity() {}

// ParseUserID parses an id as clients send it: at most 19 ASCII decimal
// digits naming an integer from 1 to 2^63-1, nothing else. Signs, spaces and full-width digits
// are refused rather than normalised, so that what reaches the cache key and
// the SQL is exactly what was asked for. field names the argument in the error.
func ParseUserID(field, s string) (UserID, error) {
	if s == "" {
		return 0, BadInput(field, "%s: an id must not be empty", field)
	}
	if len(s) > 19 {
		return 0, BadInput(field, "%s: %q is not a user id (a decimal integer from 1 to 9223372036854775807)", field, truncate(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, BadInput(field, "%s: %q is not a user id (a decimal integer from 1 to 9223372036854775807)", field, truncate(s))
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, BadInput(field, "%s: %q is not a user id (a decimal integer from 1 to 9223372036854775807)", field, truncate(s))
	}
	return id, nil
}

// truncate keeps an echoed bad value short, so a huge argument does not come
// back to the client whole.
func truncate(s string) string {
	const max = 32
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// Viewer is who sent the request, as its access token says. A request without
// a valid token has a Viewer whose Err says why; it can still read public fields.
type Viewer struct {
	UserID UserID
	Err    error
}

type viewerKey struct{}

// NewContextWithViewer returns a context that carries v.
func NewContextWithViewer(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// ViewerFromContext returns the viewer of the request, or an UNAUTHENTICATED
// one when no authentication middleware ran.
func ViewerFromContext(ctx context.Context) Viewer {
	if v, ok := ctx.Value(viewerKey{}).(Viewer); ok {
		return v
	}
	return Viewer{Err: ErrUnauthorized}
}
