package rediscache

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline"
)

// rediser is the part of go-redis the cache needs. Declared here, where it is
// used, so that a *redis.Client, a *redis.ClusterClient or a
// redis.UniversalClient all fit.
type rediser interface {
	MGet(ctx context.Context, keys ...string) *redis.SliceCmd
	Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
	// EvalSha and Eval: the read-or-lease script (ReadOrLease).
	EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd
	Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd
	// Get and Set: single keys beside the profiles (Strings).
	Get(ctx context.Context, key string) *redis.StringCmd
	Set(ctx context.Context, key string, value any, expiration time.Duration) *redis.StatusCmd
}

// Cache reads and writes profiles in the Toutiao backend's Redis format.
// It is the only code that knows that format.
type Cache struct {
	rdb  rediser
	ttls TTLs
	// breakers guard the profile entries, leases, fills and invalidations;
	// apqBreakers the persisted queries, so that neither opens the other's.
	// nil: none.
	breakers, apqBreakers *breakers
	// cc is the client when it is a cluster's, else nil: keys of one batch
	// fall in many slots (they carry no hash tag), where an MGET answers
	// CROSSSLOT; a pipeline of GETs is split by go-redis per node and sent
	// to all nodes at once instead. Each node has a breaker of its own.
	cc *redis.ClusterClient
	// timeout bounds each call to Redis as a whole, the wait for a pooled
	// connection included; 0: only the client's own socket timeouts.
	timeout time.Duration
}

// WithTimeout bounds every call to Redis, pool wait included, to d, and
// returns c. The client must honour context deadlines
// (ContextTimeoutEnabled); without this a request that queued for a
// connection behind a hung Redis waited one timeout for the connection and
// another for its reply.
func (c *Cache) WithTimeout(d time.Duration) *Cache {
	c.timeout = d
	return c
}

// bounded returns ctx limited by the cache's timeout.
func (c *Cache) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.timeout)
}

// New returns a cache on rdb; zero fields of ttls take their defaults.
func New(rdb rediser, ttls TTLs) *Cache {
	cc, _ := rdb.(*redis.ClusterClient)
	return &Cache{rdb: rdb, ttls: ttls.withDefaults(), cc: cc}
}

// WithBreaker puts circuit breakers around every call to Redis and returns
// c: one per node (per master on a cluster, one elsewhere), and a separate
// set for persisted queries. State changes are logged to log.
func (c *Cache) WithBreaker(opts BreakerOptions, log *slog.Logger) *Cache {
	c.breakers = newBreakers(BreakerCache, opts, log)
	c.apqBreakers = newBreakers(BreakerAPQ, opts, log)
	return c
}

// BreakerState is the state of the profile cache's breakers: "open" when
// any node's is open, else "half-open" when any is, else "closed"; "none"
// without breakers.
func (c *Cache) BreakerState() string { return c.breakers.state() }

// APQBreakerState is BreakerState for the persisted queries' breakers.
func (c *Cache) APQBreakerState() string { return c.apqBreakers.state() }

// Breakers lists the state of every node's breaker, the profile cache's
// and then the persisted queries', each by node.
func (c *Cache) Breakers() []NodeBreaker {
	return append(c.breakers.states(), c.apqBreakers.states()...)
}

// Entry is what the cache held for one id.
type Entry struct {
	Kind Kind
	User *headline.User // the profile, when Kind is Hit
	// Status is the account's status entry: StatusUnknown when it was not
	// asked for, or missed.
	Status Status
	// Corrupt: a miss because the value was of another shape, not absent.
	Corrupt bool
	// Down: a miss because the profile's node failed or its breaker is
	// open; it is loaded but neither leased nor written back.
	Down bool
}

// pipelinedGet is MGET for a cluster: one GET per key in one pipeline,
// which go-redis sends as one round trip per node, all nodes at once. The
// values come back as MGET's do: a string, or nil for a missing key. A key
// whose node's breaker is open is not sent; one whose node failed is not
// read: both are nil and down. The error is returned only when no key was
// read.
func (c *Cache) pipelinedGet(ctx context.Context, keys []string) (vals []any, down []bool, err error) {
	cmds := make([]*redis.StringCmd, len(keys))
	errs := c.pipelined(ctx, c.breakers, keys, func(p redis.Pipeliner, i int) {
		cmds[i] = p.Get(ctx, keys[i])
	})
	answered, err := tally(errs)
	if answered == 0 {
		return nil, nil, err
	}
	vals = make([]any, len(keys))
	for i, cmd := range cmds {
		switch {
		case errs[i] != nil:
			if down == nil {
				down = make([]bool, len(keys))
			}
			down[i] = true
		case cmd.Err() == nil:
			vals[i] = cmd.Val()
		}
	}
	return vals, down, nil
}

// nodeFailed makes a cluster client reload its slot map now. go-redis does
// on its own only when a node answers MOVED or ASK, or once a minute; a dead
// master answers nothing, so without this its slots stayed routed to it for
// up to a minute after its replica was promoted (TestClusterFailover).
// go-redis merges reloads asked for in quick succession.
func (c *Cache) nodeFailed(ctx context.Context) {
	if c.cc != nil {
		c.cc.ReloadState(ctx)
	}
}
