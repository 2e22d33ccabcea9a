package persisted

// Observer is told what Queries does, for metrics. store.Observer, which the
// server implements, includes it.
type Observer interface {
	// RedisError reports one failed Redis call: op is "apq". Calls the open
	// circuit breaker kept off Redis are not reported.
	RedisError(op string)
	// APQRegistration reports one registration of a query that this
	// process did not hold yet, by result: "stored", or refused over a
	// budget, "limited_client" or "limited_instance".
	APQRegistration(result string)
}

// nopObserver observes nothing: the default.
type nopObserver struct{}

func (nopObserver) RedisError(string)      {}
func (nopObserver) APQRegistration(string) {}
