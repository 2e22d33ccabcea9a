package headline

import (
	"errors"
	"fmt"
)

// Error codes. They are the values of a GraphQL error's extensions.code, so a
// client can branch on them; the one edge that translates errors for clients
// (the GraphQL error presenter) maps every other error to ECodeInternal.
const (
	ECodeUnauthenticated = "UNAUTHENTICATED"
	ECodeForbidden       = "FORBIDDEN"
	ECodeBadInput        = "BAD_USER_INPUT"
	ECodeInternal        = "INTERNAL_SERVER_ERROR"
	// ECodeRegistrationLimited: a persisted query ran but was not stored,
	// its registration over a budget; the client sends it in full again.
	ECodeRegistrationLimited = "PERSISTED_QUERY_REGISTRATION_LIMITED"
	// ECodeNotInSafelist and ECodeNotInList are Apollo Router's refusals,
	// with PERSISTED_DOCUMENTS_ONLY, of a query that is not one of the
	// trusted documents, sent in full or by an id.
	ECodeNotInSafelist = "QUERY_NOT_IN_SAFELIST"
	ECodeNotInList     = "PERSISTED_QUERY_NOT_IN_LIST"
)

// MsgUnauthorized is what a client is told when a field needs a signed-in
// user and the request has none: the Toutiao backend's 401 message, word for
// word, so clients of both can match it.
const MsgUnauthorized = "User must be authorized."

// ErrUnauthorized refuses a request that needs a signed-in user and has
// none: no access token, or one naming a user who no longer exists.
var ErrUnauthorized = &Error{Code: ECodeUnauthenticated, Message: MsgUnauthorized}

// ErrDisabled refuses a signed-in user whose account is disabled: the
// Toutiao backend's 403 message, word for word.
var ErrDisabled = &Error{Code: ECodeForbidden, Message: "User denied."}

// ErrNoSuchUser says an id names no user where one must exist (an update of
// an account that was deleted).
var ErrNoSuchUser = errors.New("no such user")

// Error is an error meant for the client: its Message is shown as it is.
// Anything that is not an *Error is an internal error whose text is only logged.
type Error struct {
	Code    string
	Message string
	// Field names the argument or input field at fault, for BAD_USER_INPUT.
	Field string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns a client-facing error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// BadInput returns a BAD_USER_INPUT error naming the field at fault.
func BadInput(field, format string, args ...any) *Error {
	return &Error{Code: ECodeBadInput, Field: field, Message: fmt.Sprintf(format, args...)}
}
