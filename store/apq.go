package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"
)

// persistedQueryPrefix keeps the queries apart from the Flask app's user:*
// keys; one key per query, so on a Redis Cluster each lives in its own slot
// and needs nothing but single-key commands.
const persistedQueryPrefix = "headline:apq:"

// PersistedQueryKey is the Redis key of the query whose SHA-256 is hash
// (lower-case hex, as Apollo clients send it).
func PersistedQueryKey(hash string) string { return persistedQueryPrefix + hash }

// PersistedQueryOptions tunes PersistedQueries; zero fields take their
// defaults.
type PersistedQueryOptions struct {
	// TTL is how long a query stays in Redis after it was last registered
	// (sent in full with its hash). Reads do not extend it. Default: 24h.
	TTL time.Duration
	// LRUSize is how many queries each process keeps in memory in front of
	// Redis. Default: 1000.
	LRUSize int
	// Log receives Redis failures. Default: slog.Default().
	Log *slog.Logger
	// Observer is told of failed Redis calls, as RedisError("apq").
	Observer Observer
}

func (o PersistedQueryOptions) withDefaults() PersistedQueryOptions {
	if o.TTL <= 0 {
		o.TTL = 24 * time.Hour
	}
	if o.LRUSize <= 0 {
		o.LRUSize = 1000
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	return o
}

// PersistedQueries keeps the text of automatically persisted queries by
// their SHA-256: an LRU in this process in front of Redis, which every
// instance shares. A Redis that fails or does not answer in time is a miss
// on read and is skipped on write, so it never fails a request; the LRU
// then serves alone. A query never changes under its hash, so an LRU entry
// can be served for as long as it stays, whatever Redis holds.
type PersistedQueries struct {
	cache *Cache // its Redis, circuit breaker and per-call timeout
	lru   *lru.Cache[string, string]
	opts  PersistedQueryOptions
}

// PersistedQueries returns a store of persisted queries on the cache's
// Redis. It shares the cache's circuit breaker and per-call timeout: a
// Redis that the profile lookups found dead is not asked again for queries,
// and the other way round.
func (c *Cache) PersistedQueries(opts PersistedQueryOptions) *PersistedQueries {
	opts = opts.withDefaults()
	l, err := lru.New[string, string](opts.LRUSize)
	if err != nil {
		// Only a size ≤ 0 fails, which withDefaults rules out.
		panic(fmt.Sprintf("store: persisted query LRU: %v", err))
	}
	return &PersistedQueries{cache: c, lru: l, opts: opts}
}

// Get returns the query whose SHA-256 is hash: from the LRU, else from Redis
// (then kept in the LRU). ok is false when neither has it, when Redis
// failed, and for a hash that is not 64 lower-case hex digits, which is
// answered without asking Redis.
func (q *PersistedQueries) Get(ctx context.Context, hash string) (query string, ok bool) {
	if !validHash(hash) {
		return "", false
	}
	if query, ok := q.lru.Get(hash); ok {
		return query, true
	}
	ctx, cancel := q.cache.bounded(ctx)
	defer cancel()
	key := PersistedQueryKey(hash)
	err := q.cache.apqBreakers.of(q.cache.nodeOf(ctx, key)).do(func() (err error) {
		query, err = q.cache.rdb.Get(ctx, key).Result()
		return err
	})
	switch {
	case errors.Is(err, redis.Nil):
		return "", false
	case err != nil:
		q.failed(ctx, "persisted query read failed; answering not found", hash, err)
		return "", false
	case queryHash(query) != hash:
		// Another writer's value under our prefix: never run a query the
		// client did not name.
		q.opts.Log.WarnContext(ctx, "persisted query in Redis does not match its hash; ignored", "hash", hash, "bytes", len(query))
		return "", false
	}
	q.lru.Add(hash, query)
	return query, true
}

// Put keeps query under hash, which the caller has checked is its SHA-256,
// in the LRU and in Redis for the TTL (a registration again starts the TTL
// anew). A Redis failure is logged and otherwise ignored: the LRU has it.
func (q *PersistedQueries) Put(ctx context.Context, hash, query string) {
	q.lru.Add(hash, query)
	ctx, cancel := q.cache.bounded(ctx)
	defer cancel()
	key := PersistedQueryKey(hash)
	err := q.cache.apqBreakers.of(q.cache.nodeOf(ctx, key)).do(func() error {
		return q.cache.rdb.Set(ctx, key, query, q.opts.TTL).Err()
	})
	if err != nil {
		q.failed(ctx, "persisted query write failed; kept in this process only", hash, err)
	}
}

// failed logs and counts a failed Redis call; one the open breaker kept off
// Redis is expected while Redis is down and is only logged at debug level.
func (q *PersistedQueries) failed(ctx context.Context, msg, hash string, err error) {
	level := slog.LevelWarn
	if errors.Is(err, errBreakerOpen) {
		level = slog.LevelDebug
	} else {
		q.opts.Observer.RedisError("apq")
	}
	q.opts.Log.Log(ctx, level, msg, "hash", hash, "err", err)
}

func queryHash(query string) string {
	sum := sha256.Sum256([]byte(query))
	return hex.EncodeToString(sum[:])
}

// validHash reports whether h is a SHA-256 in lower-case hex, the only
// spelling gqlgen's hash check accepts for a registration, so any other
// cannot be stored and need not be looked up.
func validHash(h string) bool {
	if len(h) != sha256.Size*2 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
