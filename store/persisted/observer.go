package persisted

import "context"

// Observer is told what Queries does, for metrics: the part of
// store.Observer that persisted queries report, declared here so that they
// need not import store. Every store.Observer is one.
type Observer interface {
	// RedisError reports one failed Redis call: op is "apq". Calls the open
	// circuit breaker kept off Redis are not reported.
	RedisError(ctx context.Context, op string)
	// APQRegistration reports one registration of a query that this
	// process did not hold yet, by result: "stored", or refused over a
	// budget, "limited_client" or "limited_instance".
	APQRegistration(ctx context.Context, result string)
}

// nopObserver observes nothing: the default.
type nopObserver struct{}

func (nopObserver) RedisError(context.Context, string)      {}
func (nopObserver) APQRegistration(context.Context, string) {}
