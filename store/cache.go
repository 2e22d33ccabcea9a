package store

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline"
)

// rediser is the part of go-redis the cache needs. Declared here, where it is
// used, so that a *redis.Client, a *redis.ClusterClient or a
// redis.UniversalClient all fit.
type rediser interface {
	MGet(ctx context.Context, keys ...string) *redis.SliceCmd
	Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
	Del(ctx context.Context, keys ...string) *redis.IntCmd
	// Get and Set: persisted queries, one key each (apq.go).
	Get(ctx context.Context, key string) *redis.StringCmd
	Set(ctx context.Context, key string, value any, expiration time.Duration) *redis.StatusCmd
}

// TTLs says how long cache entries live. Each entry draws its own jitter, so
// entries written in one batch do not expire together (cache avalanche).
type TTLs struct {
	// Profile is the base lifetime of a cached profile.
	// Default (zero value): 30m, the Toutiao backend's UserProfileCacheTTL.
	Profile time.Duration
	// ProfileJitter is the random extra lifetime [0, ProfileJitter).
	// Default: 10m.
	ProfileJitter time.Duration
	// Missing is the base lifetime of the "-1" entry for an id with no user.
	// It is short so that a user who signs up is seen soon. Default: 5m.
	Missing time.Duration
	// MissingJitter is the random extra lifetime of a "-1" entry. Default: 60s.
	MissingJitter time.Duration
	// Status is the base lifetime of a user:<id>:status entry. Default:
	// 60m, the Toutiao backend's UserStatusCacheTTL.
	Status time.Duration
	// StatusJitter is the random extra lifetime of a status entry.
	// Default: 10m.
	StatusJitter time.Duration
}

// DefaultTTLs are the Toutiao backend's constants.
var DefaultTTLs = TTLs{
	Profile:       30 * time.Minute,
	ProfileJitter: 10 * time.Minute,
	Missing:       5 * time.Minute,
	MissingJitter: 60 * time.Second,
	Status:        60 * time.Minute,
	StatusJitter:  10 * time.Minute,
}

func (t TTLs) withDefaults() TTLs {
	if t.Profile <= 0 {
		t.Profile = DefaultTTLs.Profile
	}
	if t.ProfileJitter <= 0 {
		t.ProfileJitter = DefaultTTLs.ProfileJitter
	}
	if t.Missing <= 0 {
		t.Missing = DefaultTTLs.Missing
	}
	if t.MissingJitter <= 0 {
		t.MissingJitter = DefaultTTLs.MissingJitter
	}
	if t.Status <= 0 {
		t.Status = DefaultTTLs.Status
	}
	if t.StatusJitter <= 0 {
		t.StatusJitter = DefaultTTLs.StatusJitter
	}
	return t
}

// draw returns base + a random whole number of seconds in [0, jitter), as the
// Flask app's BaseCacheTTL.get_val does.
func draw(base, jitter time.Duration) time.Duration {
	n := int64(jitter / time.Second)
	if n <= 0 {
		return base
	}
	return base + time.Duration(rand.Int64N(n))*time.Second
}

// ProfileKey is the Toutiao backend's key for a cached profile.
func ProfileKey(id headline.UserID) string {
	return "user:" + strconv.FormatInt(id, 10) + ":info"
}

// StatusKey is the Toutiao backend's key for a cached account status; its
// value is the status column, "1" (enabled) or "0" (disabled).
func StatusKey(id headline.UserID) string {
	return "user:" + strconv.FormatInt(id, 10) + ":status"
}

// decodeStatus reads a status entry; ok is false for anything but "0" or
// "1", which is then loaded again and overwritten.
func decodeStatus(v string) (s headline.AccountStatus, ok bool) {
	switch v {
	case "1":
		return headline.StatusEnabled, true
	case "0":
		return headline.StatusDisabled, true
	}
	return headline.StatusUnknown, false
}

func encodeStatus(s headline.AccountStatus) string {
	if s == headline.StatusDisabled {
		return "0"
	}
	return "1"
}

// missingValue marks an id with no user (the Flask app's setex(key, ttl, -1)).
const missingValue = "-1"

// entryKind says what a cache entry held.
type entryKind uint8

const (
	entryMiss    entryKind = iota // absent, unreadable or of another shape: load it
	entryUser                     // a profile
	entryMissing                  // "-1": no such user
)

// cachedProfile is the JSON the Flask app writes: exactly these four keys.
// photo, intro and certi may be null.
type cachedProfile struct {
	Name  string  `json:"name"`
	Photo *string `json:"photo"`
	Intro *string `json:"intro"`
	Certi *string `json:"certi"`
}

// encodeProfile renders u in the Flask app's format. Go's compact spelling is
// fine: Python's json.loads reads it.
func encodeProfile(u *headline.User) []byte {
	b, err := json.Marshal(cachedProfile{Name: u.Name, Photo: u.Photo, Intro: u.Intro, Certi: u.Certi})
	if err != nil {
		// Marshalling strings and nil pointers cannot fail.
		panic(fmt.Sprintf("store: encode profile: %v", err))
	}
	return b
}

// maxProfileBytes bounds a profile entry. The longest value a writer of a
// user_basic row produces is Python's json.dumps of four strings at their
// column limits (32+128+50+30 characters), each character an astral one
// written as a surrogate pair of \uXXXX escapes (12 bytes): 2931 bytes with
// the keys and ", " and ": " separators. 4 KiB leaves room for another valid
// spelling (json.dumps with indent=4 is 2949) while a value beyond it cannot
// be a row of the table: decoding it would cost time and memory for every
// request and serve a name no one could have set.
const maxProfileBytes = 4 << 10

// decodeProfile reads a cache value written by the Flask app or by us. Any
// valid JSON spelling of the four-key object is accepted; anything else (a
// truncated value, another shape, extra or missing keys, a value over
// maxProfileBytes, invalid UTF-8, an escaped lone surrogate) is entryMiss, so
// the entry is loaded again and overwritten.
func decodeProfile(id headline.UserID, v string) (*headline.User, entryKind) {
	if v == missingValue {
		return nil, entryMissing
	}
	if len(v) > maxProfileBytes {
		return nil, entryMiss
	}
	if u, ok := decodeProfileFast(id, v); ok {
		return u, entryUser
	}
	return decodeProfileJSON(id, v)
}

// decodeProfileJSON is decodeProfile through encoding/json: the reference,
// for every spelling the fast path leaves to it.
func decodeProfileJSON(id headline.UserID, v string) (*headline.User, entryKind) {
	// encoding/json turns invalid UTF-8 and escaped lone surrogates into
	// U+FFFD, so it would serve a name the entry does not hold. Invalid UTF-8
	// makes the Flask app's json.loads fail; a lone surrogate it would read,
	// but no utf8mb4 column can hold one, so no row was cached as that
	// entry: both are loaded again from the row.
	if !utf8.ValidString(v) || hasLoneSurrogate(v) {
		return nil, entryMiss
	}
	// A map, not a struct: encoding/json matches struct fields without
	// regard to case, and "NAME" is not the Flask app's key. Exactly the
	// four keys, each once, or it is another writer's value.
	var raw map[string]json.RawMessage
	if json.Unmarshal([]byte(v), &raw) != nil || len(raw) != 4 {
		return nil, entryMiss
	}
	name, photo, intro, certi := raw["name"], raw["photo"], raw["intro"], raw["certi"]
	if name == nil || photo == nil || intro == nil || certi == nil {
		return nil, entryMiss
	}
	u := &headline.User{ID: id}
	if name[0] != '"' || json.Unmarshal(name, &u.Name) != nil {
		return nil, entryMiss
	}
	for _, f := range []struct {
		raw json.RawMessage
		dst **string
	}{{photo, &u.Photo}, {intro, &u.Intro}, {certi, &u.Certi}} {
		if string(f.raw) == "null" {
			continue
		}
		if f.raw[0] != '"' || json.Unmarshal(f.raw, f.dst) != nil {
			return nil, entryMiss
		}
	}
	return u, entryUser
}

// hasLoneSurrogate reports whether the JSON text v escapes a UTF-16
// surrogate (\uD800–\uDFFF) other than as a high one directly followed by
// an escaped low one. In JSON a backslash only appears inside a string,
// starting an escape, so v is scanned without parsing it.
func hasLoneSurrogate(v string) bool {
	unit := func(i int) (rune, bool) { // the code unit of a \uXXXX at v[i]
		if i+6 > len(v) || v[i] != '\\' || v[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(v[i+2:i+6], 16, 16)
		return rune(n), err == nil
	}
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			continue
		}
		r, ok := unit(i)
		if !ok {
			i++ // a two-character escape, such as \\
			continue
		}
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		case r >= 0xD800 && r <= 0xDBFF:
			if lo, ok := unit(i + 6); !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 11
		default:
			i += 5
		}
	}
	return false
}

// decodeProfileFast reads the common spelling of a profile without
// encoding/json, which cost a map and a dozen allocations per entry on the
// hot path: an object of the four keys, each once, whose values are null or
// strings without escapes, control characters or invalid UTF-8 (which Go's
// compact writer produces for most names). On anything else it says !ok and
// decodeProfileJSON decides; when it says ok, decodeProfileJSON would have
// returned the same user (FuzzDecodeProfileFast checks this).
func decodeProfileFast(id headline.UserID, v string) (u *headline.User, ok bool) {
	i := 0
	ws := func() {
		for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\r') {
			i++
		}
	}
	// str reads a JSON string with no escapes at i and returns its content.
	str := func() (string, bool) {
		if i >= len(v) || v[i] != '"' {
			return "", false
		}
		start := i + 1
		for j := start; j < len(v); j++ {
			switch c := v[j]; {
			case c == '"':
				s := v[start:j]
				if !utf8.ValidString(s) {
					return "", false
				}
				i = j + 1
				return s, true
			case c == '\\' || c < 0x20:
				return "", false
			}
		}
		return "", false
	}
	u = &headline.User{ID: id}
	var seen uint8
	ws()
	if i >= len(v) || v[i] != '{' {
		return nil, false
	}
	i++
	for n := 0; n < 4; n++ {
		ws()
		key, ok := str()
		if !ok {
			return nil, false
		}
		ws()
		if i >= len(v) || v[i] != ':' {
			return nil, false
		}
		i++
		ws()
		var val *string
		if strings.HasPrefix(v[i:], "null") {
			i += len("null")
		} else {
			s, ok := str()
			if !ok {
				return nil, false
			}
			val = &s
		}
		var bit uint8
		switch key {
		case "name":
			if val == nil {
				return nil, false
			}
			bit, u.Name = 1, *val
		case "photo":
			bit, u.Photo = 2, val
		case "intro":
			bit, u.Intro = 4, val
		case "certi":
			bit, u.Certi = 8, val
		default:
			return nil, false
		}
		if seen&bit != 0 {
			return nil, false
		}
		seen |= bit
		ws()
		if i >= len(v) {
			return nil, false
		}
		if n < 3 {
			if v[i] != ',' {
				return nil, false
			}
		} else if v[i] != '}' {
			return nil, false
		}
		i++
	}
	ws()
	return u, i == len(v) && seen == 15
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

// NewCache returns a cache on rdb; zero fields of ttls take their defaults.
func NewCache(rdb rediser, ttls TTLs) *Cache {
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

// cacheEntry is what the cache held for one id.
type cacheEntry struct {
	kind   entryKind
	user   *headline.User
	status headline.AccountStatus // StatusUnknown: not asked for, or a miss
	// corrupt: a miss because the value was of another shape, not absent.
	corrupt bool
	// down: a miss because the profile's node failed or its breaker is
	// open; it is loaded but neither leased nor written back.
	down bool
}

// get reads, in one MGET, the profile entries of ids and the status entries
// of statusIDs, and returns one entry per id in the order of ids. On a
// cluster, keys whose node failed or whose node's breaker is open are
// misses marked down; the error is returned only when no key was read.
func (c *Cache) get(ctx context.Context, ids, statusIDs []headline.UserID) ([]cacheEntry, error) {
	keys := make([]string, 0, len(ids)+len(statusIDs))
	for _, id := range ids {
		keys = append(keys, ProfileKey(id))
	}
	for _, id := range statusIDs {
		keys = append(keys, StatusKey(id))
	}
	var vals []any
	var down []bool // nil: every key was read
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	var err error
	if c.cc != nil {
		vals, down, err = c.pipelinedGet(ctx, keys)
	} else {
		err = c.breakers.of(AllNodes).do(func() (err error) {
			vals, err = c.rdb.MGet(ctx, keys...).Result()
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("cache: mget %d keys: %w", len(keys), err)
	}
	if len(vals) != len(keys) {
		return nil, fmt.Errorf("cache: mget %d keys: %d values", len(keys), len(vals))
	}
	out := make([]cacheEntry, len(ids))
	pos := make(map[headline.UserID]int, len(ids))
	for i, id := range ids {
		pos[id] = i
		if s, ok := vals[i].(string); ok { // nil: absent
			out[i].user, out[i].kind = decodeProfile(id, s)
			out[i].corrupt = out[i].kind == entryMiss
		}
		out[i].down = down != nil && down[i]
	}
	for j, id := range statusIDs {
		if s, ok := vals[len(ids)+j].(string); ok {
			if st, ok := decodeStatus(s); ok {
				out[pos[id]].status = st
			}
		}
	}
	return out, nil
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
	if cc, ok := c.rdb.(*redis.ClusterClient); ok {
		cc.ReloadState(ctx)
	}
}

// writeBack is what a batch learned from the database and puts in the cache.
type writeBack struct {
	users    []*headline.User  // profiles to write
	missing  []headline.UserID // ids with no user: "-1"
	statuses []*headline.User  // accounts whose status to write
}
