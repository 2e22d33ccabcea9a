package persisted_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline/store/persisted"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

// redisDB is this package's logical Redis DB.
const redisDB = 4

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// newPersistedQueries is a PersistedQueries on a counted client of opt, as
// one server instance has it.
func newPersistedQueries(t *testing.T, opt *redis.Options, opts persisted.Options) (*persisted.Queries, *storetest.RedisCounter) {
	t.Helper()
	client := storetest.ShortTimeoutClient(t, opt)
	rc := storetest.CountRedis(client)
	opts.Log = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	return persisted.New(rediscache.New(client, rediscache.TTLs{}).WithTimeout(100*time.Millisecond).Strings(), opts), rc
}

func TestPersistedQueries(t *testing.T) {
	ctx := context.Background()
	r := storetest.NewRedis(t, redisDB)
	const query = "{ user(id: \"1\") { id name } }"
	hash := sha(query)

	a, arc := newPersistedQueries(t, r.Options(), persisted.Options{TTL: time.Hour, LRUSize: 2})
	b, brc := newPersistedQueries(t, r.Options(), persisted.Options{})
	e := &apqEnv{r: r, a: a, b: b, arc: arc, brc: brc, query: query, hash: hash}

	t.Run("an unknown hash is one GET and a miss", func(t *testing.T) {
		arc.Reset()
		if q, ok := a.Get(ctx, hash); ok {
			t.Fatalf("Get = %q, true before any Put", q)
		}
		if got := arc.Count("GET"); got != 1 || arc.RoundTrips() != 1 {
			t.Errorf("Redis: %s, want one GET", arc)
		}
	})

	t.Run("a hash that is not lower-case hex SHA-256 is a miss without Redis", func(t *testing.T) {
		arc.Reset()
		for _, h := range []string{"", "abc", hash[:63], hash + "0", "A" + hash[1:], "g" + hash[1:]} {
			if _, ok := a.Get(ctx, h); ok {
				t.Errorf("Get(%q) = ok", h)
			}
		}
		if arc.RoundTrips() != 0 {
			t.Errorf("Redis: %s, want nothing", arc)
		}
	})

	t.Run("Put writes the query under its key with the TTL", func(t *testing.T) {
		arc.Reset()
		a.Put(ctx, hash, query)
		if got := arc.Count("SET"); got != 1 || arc.RoundTrips() != 1 {
			t.Errorf("Redis: %s, want one SET", arc)
		}
		got, err := r.Raw.Get(ctx, "headline:apq:"+hash).Result()
		if err != nil || got != query {
			t.Fatalf("GET headline:apq:<hash> = %q, %v; want the query", got, err)
		}
		if ttl := r.TTL(t, persisted.Key(hash)); ttl <= time.Hour-5*time.Second || ttl > time.Hour {
			t.Errorf("TTL = %v, want about 1h", ttl)
		}
	})

	t.Run("the instance that stored it answers from its LRU", func(t *testing.T) {
		arc.Reset()
		if q, ok := a.Get(ctx, hash); !ok || q != query {
			t.Fatalf("Get = %q, %v", q, ok)
		}
		if arc.RoundTrips() != 0 {
			t.Errorf("Redis: %s, want nothing", arc)
		}
	})

	t.Run("another instance reads Redis once, then its LRU", e.otherInstanceReadsOnce)
	t.Run("a value that is not the query of its hash is a miss, and not kept", e.foreignValueIsAMiss)
	t.Run("an entry the LRU evicted is read from Redis again", e.evictedEntryIsReadAgain)
}

// apqEnv is TestPersistedQueries' two instances on one Redis, a (TTL 1h,
// LRU of 2) having stored query under hash.
type apqEnv struct {
	r           *storetest.Redis
	a, b        *persisted.Queries
	arc, brc    *storetest.RedisCounter
	query, hash string
}

func (e *apqEnv) otherInstanceReadsOnce(t *testing.T) {
	ctx := context.Background()
	for i, wantGets := range []int{1, 0, 0} {
		e.brc.Reset()
		if q, ok := e.b.Get(ctx, e.hash); !ok || q != e.query {
			t.Fatalf("Get #%d = %q, %v", i+1, q, ok)
		}
		if got := e.brc.Count("GET"); got != wantGets || e.brc.RoundTrips() != wantGets {
			t.Errorf("Get #%d: Redis %s, want %d GET", i+1, e.brc, wantGets)
		}
	}
}

func (e *apqEnv) foreignValueIsAMiss(t *testing.T) {
	ctx := context.Background()
	other := sha("{ me { id } }")
	if err := e.r.Raw.Set(ctx, persisted.Key(other), "{ users(ids: [\"1\"]) { id } }", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		e.brc.Reset()
		if q, ok := e.b.Get(ctx, other); ok {
			t.Fatalf("Get = %q, true: a query other than the hash names", q)
		}
		if got := e.brc.Count("GET"); got != 1 {
			t.Errorf("Redis %s, want one GET each time (nothing kept)", e.brc)
		}
	}
}

func (e *apqEnv) evictedEntryIsReadAgain(t *testing.T) {
	ctx := context.Background()
	for i := range 2 { // LRUSize 2: two more queries push the first out
		q := fmt.Sprintf("{ user(id: \"%d\") { id } }", i+2)
		e.a.Put(ctx, sha(q), q)
	}
	e.arc.Reset()
	if q, ok := e.a.Get(ctx, e.hash); !ok || q != e.query {
		t.Fatalf("Get = %q, %v", q, ok)
	}
	if got := e.arc.Count("GET"); got != 1 {
		t.Errorf("Redis %s, want one GET", e.arc)
	}
}

func TestPersistedQueriesRedisDown(t *testing.T) {
	ctx := context.Background()
	dead := &redis.Options{Addr: "127.0.0.1:" + fmt.Sprint(storetest.FreePort(t))}
	pq, rc := newPersistedQueries(t, dead, persisted.Options{})
	const query = "{ me { id } }"
	hash := sha(query)

	start := time.Now()
	pq.Put(ctx, hash, query)
	if q, ok := pq.Get(ctx, hash); !ok || q != query {
		t.Fatalf("Get after Put with Redis down = %q, %v; want the query from the LRU", q, ok)
	}
	if _, ok := pq.Get(ctx, sha("{ other }")); ok {
		t.Fatalf("Get of an unknown hash with Redis down = ok")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Put and two Gets took %v with Redis down, want well under 1s", d)
	}
	if got := rc.Count("SET") + rc.Count("GET"); got != 2 {
		t.Errorf("Redis %s, want the SET and the GET of the unknown hash tried", rc)
	}
}

// TestPersistedQueriesLRUBytes: the LRU in front of Redis is bounded by the
// bytes of its queries as well as by their number.
func TestPersistedQueriesLRUBytes(t *testing.T) {
	ctx := context.Background()
	r := storetest.NewRedis(t, redisDB)
	const lruBytes = 100 << 10
	pq, rc := newPersistedQueries(t, r.Options(), persisted.Options{LRUSize: 1000, LRUBytes: lruBytes})
	// Ten queries of 32 KiB: the entry count allows them all, the bytes
	// three (each is its text and its 64-byte hash).
	queries := make([]string, 10)
	for i := range queries {
		q := fmt.Sprintf("{ user(id: \"%d\") { id } }\n#", i+1)
		queries[i] = q + strings.Repeat("x", 32<<10-len(q))
		if err := pq.Put(ctx, sha(queries[i]), queries[i]); err != nil {
			t.Fatal(err)
		}
	}
	rc.Reset()
	inLRU := 0
	for i := len(queries) - 1; i >= 0; i-- { // newest first: reading from Redis adds to the LRU
		before := rc.Count("GET")
		if q, ok := pq.Get(ctx, sha(queries[i])); !ok || q != queries[i] {
			t.Fatalf("query %d: not found", i)
		}
		if rc.Count("GET") == before {
			inLRU++
		}
	}
	if want := lruBytes / (32<<10 + 64); inLRU != want {
		t.Errorf("%d of 10 queries of 32 KiB served from the LRU, want %d (%d bytes)", inLRU, want, lruBytes)
	}
}
