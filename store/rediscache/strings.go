package rediscache

import (
	"context"
	"time"
)

// Strings reads and writes single string keys on the cache's Redis, for
// what is kept beside the profiles (persisted queries): with the cache's
// per-call timeout, and through breakers of their own (BreakerAPQ, per node
// on a cluster), so that failures of one keep neither the other off Redis.
// Each key is one command, which a cluster serves from the key's slot.
type Strings struct{ c *Cache }

// Strings returns single-key access to the cache's Redis.
func (c *Cache) Strings() Strings { return Strings{c} }

// Get returns the value of key: redis.Nil when there is none, and
// ErrBreakerOpen, without calling Redis, while key's node's breaker is open.
func (s Strings) Get(ctx context.Context, key string) (v string, err error) {
	ctx, cancel := s.c.bounded(ctx)
	defer cancel()
	err = s.c.apqBreakers.of(s.c.nodeOf(ctx, key)).do(func() (err error) {
		v, err = s.c.rdb.Get(ctx, key).Result()
		return err
	})
	return v, err
}

// Set stores value under key for ttl; ErrBreakerOpen, without calling
// Redis, while key's node's breaker is open.
func (s Strings) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	ctx, cancel := s.c.bounded(ctx)
	defer cancel()
	return s.c.apqBreakers.of(s.c.nodeOf(ctx, key)).do(func() error {
		return s.c.rdb.Set(ctx, key, value, ttl).Err()
	})
}
