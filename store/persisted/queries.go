package persisted

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline"
	"github.com/headline/headline/store/rediscache"
)

// keyPrefix keeps the queries apart from the Flask app's user:*
// keys; one key per query, so on a Redis Cluster each lives in its own slot
// and needs nothing but single-key commands.
const keyPrefix = "headline:apq:"

// Key is the Redis key of the query whose SHA-256 is hash (lower-case hex,
// as Apollo clients send it).
func Key(hash string) string { return keyPrefix + hash }

// Options tunes Queries; zero fields take their values in DefaultOptions.
type Options struct {
	// TTL is how long a query stays in Redis after it was registered (sent
	// in full with its hash, while this process did not hold it). Reads do
	// not extend it.
	TTL time.Duration
	// LRUSize is how many queries each process keeps in memory in front of
	// Redis.
	LRUSize int
	// LRUBytes bounds the same LRU by the bytes of its queries and their
	// hashes.
	LRUBytes int
	// Limits bound what registrations can make Redis hold.
	Limits Limits
	// Log receives Redis failures. Default: slog.Default().
	Log *slog.Logger
	// Observer is told of failed Redis calls, as RedisError("apq"), and of
	// registrations stored or refused, as APQRegistration.
	Observer Observer
}

// DefaultOptions are the persisted queries' defaults.
var DefaultOptions = Options{
	TTL:      24 * time.Hour,
	LRUSize:  1000,
	LRUBytes: 16 << 20,
	Limits:   Limits{Bytes: 4 << 20, PerClient: 60, ClientWindow: time.Hour},
}

func (o Options) withDefaults() Options {
	d := DefaultOptions
	o.TTL = positiveOr(o.TTL, d.TTL)
	o.LRUSize = positiveOr(o.LRUSize, d.LRUSize)
	o.LRUBytes = positiveOr(o.LRUBytes, d.LRUBytes)
	o.Limits = o.Limits.withDefaults()
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	return o
}

// Queries keeps the text of automatically persisted queries by
// their SHA-256: an LRU in this process in front of Redis, which every
// instance shares. A Redis that fails or does not answer in time is a miss
// on read and is skipped on write, so it never fails a request; the LRU
// then serves alone. A query never changes under its hash, so an LRU entry
// can be served for as long as it stays, whatever Redis holds.
//
// Registrations are budgeted (Limits): Redis is shared with the
// Flask app's profile cache, and anyone can register queries, so past its
// budget a registration is refused and the query is kept nowhere.
type Queries struct {
	redis  rediscache.Strings
	lru    *queryLRU
	budget *budget
	opts   Options

	logMu    sync.Mutex
	refused  map[refusal]int // since the last log line about it
	loggedAt time.Time
}

// New returns a store of persisted queries on redis: the profile cache's
// Redis, with its per-call timeout and breakers of their own (per node on a
// cluster), so that persisted queries failing do not keep profile lookups
// off Redis, nor the other way round.
func New(redis rediscache.Strings, opts Options) *Queries {
	opts = opts.withDefaults()
	return &Queries{
		redis:   redis,
		lru:     newQueryLRU(opts.LRUSize, opts.LRUBytes),
		budget:  newBudget(opts.Limits, opts.TTL),
		opts:    opts,
		refused: map[refusal]int{},
	}
}

// Get returns the query whose SHA-256 is hash: from the LRU, else from Redis
// (then kept in the LRU). ok is false when neither has it, when Redis
// failed, and for a hash that is not 64 lower-case hex digits, which is
// answered without asking Redis.
func (q *Queries) Get(ctx context.Context, hash string) (string, bool) {
	if !validHash(hash) {
		return "", false
	}
	if query, ok := q.lru.get(hash); ok {
		return query, true
	}
	query, err := q.redis.Get(ctx, Key(hash))
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
	q.lru.add(hash, query)
	return query, true
}

// Put keeps query under hash, which the caller has checked is its SHA-256,
// in the LRU and in Redis for the TTL, and returns nil; a hash the LRU
// holds already is not written again. A Redis failure is logged and
// otherwise ignored: the LRU has it. A registration over its client's or
// this process's budget is refused: the query is kept nowhere and the
// error, a *headline.Error with ECodeRegistrationLimited, says why.
func (q *Queries) Put(ctx context.Context, hash, query string) error {
	if q.lru.contains(hash) {
		return nil
	}
	key := Key(hash)
	client, _ := headline.ClientAddr(ctx)
	if r := q.budget.take(client, len(key)+len(query)+RegistrationOverhead, time.Now()); r != "" {
		q.refuse(ctx, r)
		return registrationLimited(r)
	}
	q.opts.Observer.APQRegistration(ctx, "stored")
	q.lru.add(hash, query)
	if err := q.redis.Set(ctx, key, query, q.opts.TTL); err != nil {
		q.failed(ctx, "persisted query write failed; kept in this process only", hash, err)
	}
	return nil
}

func registrationLimited(r refusal) error {
	if r == refusedClient {
		return headline.Errorf(headline.ECodeRegistrationLimited,
			"this client registered too many new persisted queries lately; the query ran but was not stored: send it in full")
	}
	return headline.Errorf(headline.ECodeRegistrationLimited,
		"the server stores no more new persisted queries for now; the query ran but was not stored: send it in full")
}

// refuse counts a refused registration, and logs the refusals at most once
// a minute: a flood of them must not flood the log too.
func (q *Queries) refuse(ctx context.Context, r refusal) {
	q.opts.Observer.APQRegistration(ctx, "limited_"+string(r))
	q.logMu.Lock()
	defer q.logMu.Unlock()
	q.refused[r]++
	if time.Since(q.loggedAt) < time.Minute {
		return
	}
	q.opts.Log.WarnContext(ctx, "persisted query registrations refused over their budget",
		"over_client_budget", q.refused[refusedClient], "over_instance_budget", q.refused[refusedInstance],
		"instance_budget_bytes", q.opts.Limits.Bytes, "per_client", q.opts.Limits.PerClient, "client_window", q.opts.Limits.ClientWindow)
	q.refused = map[refusal]int{}
	q.loggedAt = time.Now()
}

// failed logs and counts a failed Redis call; one the open breaker kept off
// Redis is expected while Redis is down and is only logged at debug level.
func (q *Queries) failed(ctx context.Context, msg, hash string, err error) {
	level := slog.LevelWarn
	if errors.Is(err, rediscache.ErrBreakerOpen) {
		level = slog.LevelDebug
	} else {
		q.opts.Observer.RedisError(ctx, "apq")
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
