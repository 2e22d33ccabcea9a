package gqlgenrt

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalSliceSequentially is graphql.MarshalSliceConcurrently (gqlgen v0.17.98) run in
// the calling goroutine, with the same arguments and the same results: each
// element is marshalled under a FieldContext of its own carrying its index
// (so errors read "users.3"), a panic in one element is recovered, reported
// on that element's path and leaves Null in its place (unless
// omitPanicHandler), and with a workerLimit an element not started when ctx
// is cancelled is Null, ctx.Err() being reported once.
//
// gqlgen starts a goroutine per element so that elements whose fields have
// resolvers can wait on them (a dataloader) together. An element made of
// struct fields never waits, so the goroutines only cost: a goroutine, a
// WaitGroup and scheduling per element. The FieldContexts and their indexes
// are allocated as two slices rather than two objects per element.
func MarshalSliceSequentially(
	ctx context.Context,
	length int,
	workerLimit int64,
	omitPanicHandler bool,
	marshalElement func(ctx context.Context, i int) graphql.Marshaler,
) graphql.Array {
	ret := make(graphql.Array, length)
	if length == 0 {
		return ret
	}
	fcs := make([]graphql.FieldContext, length)
	indexes := make([]int, length)
	for i := range length {
		indexes[i] = i
		fcs[i].Index = &indexes[i]
		childCtx := graphql.WithFieldContext(ctx, &fcs[i])
		// With a limit, gqlgen acquires a semaphore per element of a list
		// longer than 1, which fails once ctx is done; without one it never
		// looks at ctx.
		if workerLimit > 0 && length > 1 && ctx.Err() != nil {
			graphql.AddError(childCtx, ctx.Err())
			for j := i; j < length; j++ {
				ret[j] = graphql.Null
			}
			break
		}
		if omitPanicHandler {
			ret[i] = marshalElement(childCtx, i)
		} else {
			ret[i] = marshalRecovered(childCtx, i, marshalElement)
		}
	}
	return ret
}

// marshalRecovered is one element with gqlgen's per-element recover.
func marshalRecovered(ctx context.Context, i int, marshalElement func(context.Context, int) graphql.Marshaler) (ret graphql.Marshaler) {
	defer func() {
		if r := recover(); r != nil {
			graphql.AddError(ctx, graphql.Recover(ctx, r))
			ret = graphql.Null
		}
	}()
	return marshalElement(ctx, i)
}
