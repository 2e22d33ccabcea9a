package localcache

import (
	"strconv"
	"strings"
)

// Kind says which of a user's Redis entries a Key names.
type Kind uint8

const (
	// Info is user:<id>:info: a profile, or "-1" for no such user.
	Info Kind = iota + 1
	// Status is user:<id>:status: the account's status column.
	Status
)

// Key names one cached Redis entry by its parts, so that a lookup builds no
// string: a struct of two words hashes and compares in a few instructions.
type Key struct {
	ID   int64
	Kind Kind
}

// Prefix is the prefix every key the tier holds starts with: the tracker
// asks Redis to broadcast invalidations of keys under it and no others.
// headline's own {user:<id>:info}:lease and :written keys start with "{"
// and are not under it; neither is headline:apq:<hash>.
const Prefix = "user:"

// RedisKey is the key's name in Redis, for logs and tests; the tier itself
// never builds it.
func (k Key) RedisKey() string {
	s := Prefix + strconv.FormatInt(k.ID, 10)
	switch k.Kind {
	case Info:
		return s + ":info"
	case Status:
		return s + ":status"
	}
	return s + ":?"
}

// ParseKey reads an invalidated Redis key. It says false for any other key
// under the prefix (the Flask app keeps more there), which the tier ignores.
// It may accept a spelling headline never reads ("user:+7:info"): that only
// evicts user 7 once more than needed, which is harmless; what it must never
// do is miss a key headline reads, and every such key is ProfileKey's or
// StatusKey's canonical decimal.
func ParseKey(redisKey string) (Key, bool) {
	rest, ok := strings.CutPrefix(redisKey, Prefix)
	if !ok {
		return Key{}, false
	}
	idPart, kindPart, ok := strings.Cut(rest, ":")
	if !ok {
		return Key{}, false
	}
	var kind Kind
	switch kindPart {
	case "info":
		kind = Info
	case "status":
		kind = Status
	default:
		return Key{}, false
	}
	id, err := strconv.ParseInt(idPart, 10, 64)
	if err != nil {
		return Key{}, false
	}
	return Key{ID: id, Kind: kind}, true
}

// shard spreads keys over the in-flight shards. Ids are often dense and
// sequential, so they are mixed (Fibonacci hashing) rather than taken mod n;
// a user's two kinds share a shard.
func (k Key) shard() uint64 {
	return (uint64(k.ID) * 0x9E3779B97F4A7C15) >> (64 - shardBits)
}
