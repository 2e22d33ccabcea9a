package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/headline/headline"
)

// presentError is the one edge where errors are translated for clients.
// A *headline.Error keeps its message and gets its code; gqlgen's own
// parse, validation and limit errors pass as they are (BAD_USER_INPUT
// when they have no code: a body that is not JSON); anything else is an
// internal error: logged with its detail, shown as a bare
// INTERNAL_SERVER_ERROR, so no DSN, SQL or driver text reaches a client.
// Every message and path is cut to an excerpt (clipError), so no answer
// repeats more than a short piece of what the client sent.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		return clipError(translateError(ctx, log, err))
	}
}

func translateError(ctx context.Context, log *slog.Logger, err error) *gqlerror.Error {
	if errors.Is(err, ErrUnknownType) || errors.Is(err, ErrTypeNotFound) {
		// gqlgen's refusal of an _entities representation: of a type that
		// is not an entity here, or without the key's fields.
		// ec.Error wrapped it with its path, which the answer has anyway.
		if e, ok := errors.AsType[*gqlerror.Error](err); ok && e.Err != nil {
			err = e.Err
		}
		err = headline.BadInput("representations", "representations: %v", err)
	}
	gqlErr := graphql.DefaultErrorPresenter(ctx, err)
	if e, ok := errors.AsType[*headline.Error](err); ok {
		ext := map[string]any{"code": e.Code}
		if e.Field != "" {
			ext["field"] = e.Field
		}
		return &gqlerror.Error{Message: e.Message, Path: gqlErr.Path, Locations: gqlErr.Locations, Extensions: ext}
	}
	if gqlErr.Err == nil && err == error(gqlErr) {
		// Made by gqlgen itself from the request (parse, validation,
		// complexity, a body that is not JSON): safe to show once clipped.
		return gqlErr
	}
	log.ErrorContext(ctx, "internal error", "path", gqlErr.Path.String(), "err", err)
	return &gqlerror.Error{
		Message:    "internal server error",
		Path:       gqlErr.Path,
		Locations:  gqlErr.Locations,
		Extensions: map[string]any{"code": headline.ECodeInternal},
	}
}

// recoverPanic keeps a panic in a resolver from reaching the client or
// killing the server: it is logged with its stack and answered as an
// internal error.
func recoverPanic(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return headline.Errorf(headline.ECodeInternal, "internal server error")
	}
}
