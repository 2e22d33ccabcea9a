package store

import "github.com/headline/headline"

// Key is one lookup of a batch: a user's profile, and WithStatus whether
// the account is disabled too (sign-in needs it; public profiles do not).
type Key struct {
	ID         headline.UserID
	WithStatus bool
}

// Results are a batch's answers, one per key, in key order.
type Results struct {
	// Users[i] is the profile keys[i] asked for: nil when there is no such
	// user, or when Errs[i] says why it could not be loaded (the database
	// failed).
	Users []*headline.User
	Errs  []error
	// Disabled[i] reports, for a key WithStatus, that the account is
	// disabled. It is nil when no key of the batch asked for a status.
	Disabled []bool
}

// MakeResults returns the results of n keys, none answered yet; with
// statuses, room for them too.
func MakeResults(n int, statuses bool) Results {
	r := Results{Users: make([]*headline.User, n), Errs: make([]error, n)}
	if statuses {
		r.Disabled = make([]bool, n)
	}
	return r
}

// IsDisabled reports whether the account of keys[i] is disabled: false for
// a key without WithStatus.
func (r Results) IsDisabled(i int) bool { return r.Disabled != nil && r.Disabled[i] }

// Slice returns the results of keys[from:to].
func (r Results) Slice(from, to int) Results {
	s := Results{Users: r.Users[from:to:to], Errs: r.Errs[from:to:to]}
	if r.Disabled != nil {
		s.Disabled = r.Disabled[from:to:to]
	}
	return s
}
