package rediscache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline"
)

// Leases, after "Scaling Memcache at Facebook" (NSDI 2013). A reader that
// misses takes a lease on the key before it reads the database, and its
// write-back lands only while its lease is still the current one. An update
// deletes the value and the lease together, so a reader that loaded the row
// before the update cannot store it after the invalidation: its lease is
// gone. Another instance that misses while a lease is held waits for the
// holder's write instead of loading the same row.

// fillScript stores a value only while the caller's lease is current, and
// ends the lease. KEYS: value, lease. ARGV: token, value, ttl in seconds.
var fillScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0`)

// releaseScript ends the caller's lease without a fill, so that after a
// failed load the next reader need not wait for the lease to expire.
// KEYS: lease. ARGV: token.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// Release gives up the leases l holds, in one pipeline, so that after a
// failed load the next reader need not wait for them to expire.
func (c *Cache) Release(ctx context.Context, l Lease) error {
	tokens := l.tokens
	if len(tokens) == 0 {
		return nil
	}
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	keys := make([]string, 0, len(tokens))
	toks := make([]string, 0, len(tokens))
	for id, tok := range tokens {
		keys = append(keys, LeaseKey(id))
		toks = append(toks, tok)
	}
	errs := c.pipelined(ctx, c.breakers, keys, func(p redis.Pipeliner, i int) {
		releaseScript.Eval(ctx, p, []string{keys[i]}, toks[i])
	})
	// Keys kept back by an open breaker are not failures: their leases
	// lapse by themselves.
	if _, err := tally(errs); err != nil && !errors.Is(err, ErrBreakerOpen) {
		return fmt.Errorf("cache: release %d leases: %w", len(keys), err)
	}
	return nil
}

// newToken makes a lease token unique across instances.
func newToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Lease is the outcome of asking for the leases of a batch's misses. The
// zero Lease holds none.
type Lease struct {
	tokens map[headline.UserID]string // leases this batch holds
	// Held lists the ids whose lease someone else holds: another instance
	// is loading them.
	Held []headline.UserID
	// Written marks the ids updated in the last fresh window (asked for
	// only when Acquire was told to).
	Written map[headline.UserID]bool
}

// Taken is how many leases l holds.
func (l Lease) Taken() int { return len(l.tokens) }

// Acquire asks for the leases of ids in one pipeline of SET NX PX; with
// written, the same pipeline reads their WrittenKey markers. An id whose
// node failed or whose node's breaker is open gets no lease and is not held
// by anyone either: it is loaded and not written back. The error is
// returned only when no lease could be asked for.
func (c *Cache) Acquire(ctx context.Context, ids []headline.UserID, ttl time.Duration, written bool) (Lease, error) {
	l := Lease{tokens: make(map[headline.UserID]string, len(ids))}
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	cmds := make([]*redis.StatusCmd, len(ids))
	var marks []*redis.IntCmd
	if written {
		marks = make([]*redis.IntCmd, len(ids))
	}
	tokens := make([]string, len(ids))
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = LeaseKey(id)
	}
	errs := c.pipelined(ctx, c.breakers, keys, func(p redis.Pipeliner, i int) {
		tokens[i] = newToken()
		// SET NX answers nil, an answer, for a lease someone else holds.
		cmds[i] = p.SetArgs(ctx, keys[i], tokens[i], redis.SetArgs{Mode: "NX", TTL: ttl})
		if written {
			marks[i] = p.Exists(ctx, WrittenKey(ids[i]))
		}
	})
	if answered, err := tally(errs); answered == 0 {
		return l, fmt.Errorf("cache: acquire %d leases: %w", len(ids), err)
	}
	for i, id := range ids {
		if errs[i] != nil {
			continue
		}
		if cmds[i].Val() == "OK" {
			l.tokens[id] = tokens[i]
		} else {
			l.Held = append(l.Held, id)
		}
		if written && marks[i].Val() > 0 {
			if l.Written == nil {
				l.Written = make(map[headline.UserID]bool)
			}
			l.Written[id] = true
		}
	}
	return l, nil
}

// Fill writes w back: profiles and "-1" entries only under the batch's
// leases (one script call each, in one pipeline), statuses plainly. voided
// lists the ids whose fill was refused because an update voided the lease
// while the batch was loading: what the batch read of them may be older than
// the update.
func (c *Cache) Fill(ctx context.Context, w WriteBack, l Lease) (voided []headline.UserID, err error) {
	tokens := l.tokens
	n := len(w.Users) + len(w.Missing) + len(w.Statuses)
	if n == 0 {
		return nil, nil
	}
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	// One key per write: a profile or "-1" under its lease, or a status.
	type write struct {
		key, tok string
		id       headline.UserID
		value    any
		ttl      int64         // seconds, for a fill
		status   time.Duration // for a status: its TTL
	}
	writes := make([]write, 0, n)
	for _, u := range w.Users {
		if tok, ok := tokens[u.ID]; ok {
			writes = append(writes, write{key: ProfileKey(u.ID), tok: tok, id: u.ID, value: EncodeProfile(u),
				ttl: seconds(c.ttls.DrawProfile())})
		}
	}
	for _, id := range w.Missing {
		if tok, ok := tokens[id]; ok {
			writes = append(writes, write{key: ProfileKey(id), tok: tok, id: id, value: MissingValue,
				ttl: seconds(c.ttls.DrawMissing())})
		}
	}
	for _, s := range w.Statuses {
		writes = append(writes, write{key: StatusKey(s.ID), id: s.ID, value: encodeStatus(s.Disabled),
			status: c.ttls.DrawStatus()})
	}
	keys := make([]string, len(writes))
	for i, wr := range writes {
		keys[i] = wr.key
	}
	fills := make([]*redis.Cmd, len(writes))
	errs := c.pipelined(ctx, c.breakers, keys, func(p redis.Pipeliner, i int) {
		wr := writes[i]
		if wr.tok == "" {
			p.Set(ctx, wr.key, wr.value, wr.status)
			return
		}
		fills[i] = fillScript.Eval(ctx, p, []string{wr.key, LeaseKey(wr.id)}, wr.tok, wr.value, wr.ttl)
	})
	for i, cmd := range fills {
		if cmd == nil || errs[i] != nil {
			continue
		}
		if v, err := cmd.Int(); err == nil && v == 0 {
			voided = append(voided, writes[i].id)
		}
	}
	// Keys kept back by an open breaker are skipped, as expected while
	// their node is down; only failures are reported.
	if _, err := tally(errs); err != nil && !errors.Is(err, ErrBreakerOpen) {
		return voided, fmt.Errorf("cache: write back %d entries: %w", len(writes), err)
	}
	return voided, nil
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// Invalidate deletes the profile of id and voids any lease on it, in one
// DEL (both keys share a slot), as the Toutiao backend deletes after its own
// updates. Before the DEL, in the same round trip, it marks id as written for
// fresh: a reader that misses after the DEL sees the marker.
func (c *Cache) Invalidate(ctx context.Context, id headline.UserID, fresh time.Duration) error {
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	err := c.breakers.of(c.nodeOf(ctx, ProfileKey(id))).do(func() error {
		_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, WrittenKey(id), "1", fresh)
			p.Del(ctx, ProfileKey(id), LeaseKey(id))
			return nil
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("cache: invalidate user %d: %w", id, err)
	}
	return nil
}

// WriteBack is what a batch learned from the database and puts in the cache.
type WriteBack struct {
	Users    []*headline.User  // profiles to write, under the batch's leases
	Missing  []headline.UserID // ids with no user: "-1", under the leases
	Statuses []AccountStatus   // statuses to write
}

// AccountStatus is the status of user ID's account, for its status entry.
type AccountStatus struct {
	ID       headline.UserID
	Disabled bool
}
