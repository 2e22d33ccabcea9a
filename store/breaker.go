package store

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/sony/gobreaker/v2"
)

// BreakerOptions tunes the circuit breaker around Redis; zero fields take
// their defaults.
type BreakerOptions struct {
	// Failures is how many consecutive Redis failures open the breaker.
	// Default: 5.
	Failures uint32
	// Cooldown is how long an open breaker keeps every call away from
	// Redis before one probe is let through. A dead Redis then costs one
	// timeout per cooldown instead of one per request. Default: 1s.
	Cooldown time.Duration
}

func (o BreakerOptions) withDefaults() BreakerOptions {
	if o.Failures == 0 {
		o.Failures = 5
	}
	if o.Cooldown <= 0 {
		o.Cooldown = time.Second
	}
	return o
}

// errBreakerOpen is returned instead of calling Redis while the breaker is
// open (or a probe is already out).
var errBreakerOpen = errors.New("redis circuit breaker open")

// breaker is a circuit breaker (sony/gobreaker) around the cache's calls.
type breaker struct {
	cb *gobreaker.CircuitBreaker[any]
}

func newBreaker(opts BreakerOptions, log *slog.Logger) *breaker {
	opts = opts.withDefaults()
	return &breaker{cb: gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:        "redis",
		MaxRequests: 1,
		Timeout:     opts.Cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= opts.Failures },
		// A request that its client gave up on says nothing about Redis.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			log.Warn("redis circuit breaker", "from", from.String(), "to", to.String())
		},
	})}
}

// do runs call through the breaker; while it is open call does not run and
// errBreakerOpen is returned.
func (b *breaker) do(call func() error) error {
	if b == nil {
		return call()
	}
	_, err := b.cb.Execute(func() (any, error) { return nil, call() })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return errBreakerOpen
	}
	return err
}

// state names the breaker's state for logs and readiness.
func (b *breaker) state() string {
	if b == nil {
		return "none"
	}
	return b.cb.State().String()
}
