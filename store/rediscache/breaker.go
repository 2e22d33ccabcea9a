package rediscache

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// BreakerOptions tunes the circuit breakers around Redis; zero fields take
// their values in DefaultBreakerOptions.
type BreakerOptions struct {
	// Failures is how many consecutive failed calls to one node open its
	// breaker.
	Failures uint32
	// Cooldown is how long an open breaker keeps every call away from its
	// node before one probe is let through. A dead node then costs one
	// timeout per cooldown instead of one per request.
	Cooldown time.Duration
}

// DefaultBreakerOptions are the breakers' defaults.
var DefaultBreakerOptions = BreakerOptions{Failures: 5, Cooldown: time.Second}

func (o BreakerOptions) withDefaults() BreakerOptions {
	if o.Failures == 0 {
		o.Failures = DefaultBreakerOptions.Failures
	}
	if o.Cooldown <= 0 {
		o.Cooldown = DefaultBreakerOptions.Cooldown
	}
	return o
}

// ErrBreakerOpen is returned instead of calling Redis while the breaker is
// open (or a probe is already out).
var ErrBreakerOpen = errors.New("redis circuit breaker open")

// Breaker names, as BreakerState reports them.
const (
	BreakerCache = "cache" // profile entries, leases, fills, invalidations
	BreakerAPQ   = "apq"   // persisted queries
)

// AllNodes is the node of the one breaker of a client that is not a
// cluster (one node, or a Sentinel-managed master): every key is there.
const AllNodes = "all"

// breakers keeps one circuit breaker (sony/gobreaker) per Redis node, made
// when a key first goes to that node. On a cluster a node is a master's
// address, so a dead master opens its own breaker only and the keys of the
// others are still read and written; a promoted replica is a new address
// with a closed breaker of its own. Elsewhere there is one node, AllNodes.
type breakers struct {
	name string // BreakerCache or BreakerAPQ
	opts BreakerOptions
	log  *slog.Logger

	mu     sync.Mutex
	byNode map[string]*breaker
}

func newBreakers(name string, opts BreakerOptions, log *slog.Logger) *breakers {
	return &breakers{name: name, opts: opts.withDefaults(), log: log, byNode: map[string]*breaker{}}
}

// of returns the breaker of node; nil (no breaker) when bs is nil.
func (bs *breakers) of(node string) *breaker {
	if bs == nil {
		return nil
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b, ok := bs.byNode[node]; ok {
		return b
	}
	opts := bs.opts
	b := &breaker{cb: gobreaker.NewTwoStepCircuitBreaker[any](gobreaker.Settings{
		Name:        bs.name + " " + node,
		MaxRequests: 1,
		Timeout:     opts.Cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= opts.Failures },
		// A key that is not there is an answer: Redis is up.
		IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, redis.Nil) },
		// A request that its client gave up on says nothing about Redis.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			bs.log.Warn("redis circuit breaker", "breaker", bs.name, "node", node, "from", from.String(), "to", to.String())
		},
	})}
	bs.byNode[node] = b
	return b
}

// NodeBreaker is the state of one node's breaker.
type NodeBreaker struct {
	Breaker string // BreakerCache or BreakerAPQ
	Node    string // a master's address, or AllNodes
	State   string // closed, half-open or open
}

// states lists the breakers by node.
func (bs *breakers) states() []NodeBreaker {
	if bs == nil {
		return nil
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	out := make([]NodeBreaker, 0, len(bs.byNode))
	for node, b := range bs.byNode {
		out = append(out, NodeBreaker{Breaker: bs.name, Node: node, State: b.state()})
	}
	slices.SortFunc(out, func(a, b NodeBreaker) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// state is the worst state of any node's breaker: "open" when one is open,
// else "half-open" when one is, else "closed"; "none" without breakers.
func (bs *breakers) state() string {
	if bs == nil {
		return "none"
	}
	worst := "closed"
	for _, s := range bs.states() {
		switch {
		case s.State == "open":
			return "open"
		case s.State == "half-open":
			worst = "half-open"
		}
	}
	return worst
}

// breaker is one node's circuit breaker.
type breaker struct {
	cb *gobreaker.TwoStepCircuitBreaker[any]
}

// allow asks to call the node: done must be called with the call's
// outcome. While the breaker is open (or its one probe is out) it returns
// ErrBreakerOpen and the call must not be made.
func (b *breaker) allow() (done func(error), err error) {
	if b == nil {
		return func(error) {}, nil
	}
	done, err = b.cb.Allow()
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return nil, ErrBreakerOpen
	}
	return done, err
}

// do runs call through the breaker; while it is open call does not run and
// ErrBreakerOpen is returned.
func (b *breaker) do(call func() error) error {
	done, err := b.allow()
	if err != nil {
		return err
	}
	err = call()
	done(err)
	return err
}

// state names the breaker's state for logs and readiness.
func (b *breaker) state() string {
	if b == nil {
		return "none"
	}
	return b.cb.State().String()
}
