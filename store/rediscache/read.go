package rediscache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline"
)

// readScript reads a batch's profile entries and takes, in the same call,
// the lease of each one that is absent, so that a cold batch costs this
// round trip and its fill instead of a read, a lease pipeline and a fill.
// It reads the status entries and, when asked, the fresh-window markers of
// the absent profiles too: everything the read and the lease pipeline
// read, in one round trip.
//
// KEYS: n profile keys, their n lease keys, their n written keys when
// ARGV[4] is "1", then the status keys. ARGV: n, the batch's lease token,
// the lease's lifetime in milliseconds, "1" to read the markers.
//
// It returns one element per profile key: its value, or for an absent one
// a number, 1 when this call took the lease (0: someone holds it) plus 2
// when the key's written marker lives; then one per status key: its value
// or nil. On a cluster every key of one call must share a slot: the caller
// sends one call per profile key (its lease and marker share its slot) and
// the status keys as plain GETs.
var readScript = redis.NewScript(readSource)

const readSource = `
local n, tok, ms, marks = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4] == '1'
local out = {}
local function mget(from, to)
  for a = from, to, 1000 do
    local vs = redis.call('MGET', unpack(KEYS, a, math.min(a + 999, to)))
    for k = 1, #vs do out[#out + 1] = vs[k] end
  end
end
mget(1, n)
for i = 1, n do
  if not out[i] then
    local f = 0
    if redis.call('SET', KEYS[n + i], tok, 'NX', 'PX', ms) then f = 1 end
    if marks and redis.call('EXISTS', KEYS[2 * n + i]) == 1 then f = f + 2 end
    out[i] = f
  end
end
local s = marks and 3 * n or 2 * n
if #KEYS > s then mget(s + 1, #KEYS) end
return out`

// Read is what one read of a batch found: one entry per profile id asked
// for and one status per status id, each in the order asked.
type Read struct {
	Profiles []Entry // their Status is unset: see Statuses
	Statuses []Status
}

// Read reads the profile entries of ids and the status entries of
// statusIDs in one MGET (a pipeline of GETs on a cluster); the two lists
// need not name the same users. On a cluster, keys whose node
// failed or whose node's breaker is open are misses, profiles marked down;
// the error is returned only when no key was read.
func (c *Cache) Read(ctx context.Context, ids, statusIDs []headline.UserID) (Read, error) {
	keys := batchKeys(ids, statusIDs)
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
		return Read{}, fmt.Errorf("cache: mget %d keys: %w", len(keys), err)
	}
	if len(vals) != len(keys) {
		return Read{}, fmt.Errorf("cache: mget %d keys: %d values", len(keys), len(vals))
	}
	return decodeRead(vals, down, ids, statusIDs, nil), nil
}

// batchKeys are the keys of a read: the profile keys of ids, then the
// status keys of statusIDs.
func batchKeys(ids, statusIDs []headline.UserID) []string {
	keys := make([]string, 0, len(ids)+len(statusIDs))
	for _, id := range ids {
		keys = append(keys, ProfileKey(id))
	}
	for _, id := range statusIDs {
		keys = append(keys, StatusKey(id))
	}
	return keys
}

// decodeRead decodes the values of a read of batchKeys(ids, statusIDs):
// a string is an entry, nil absent; an int64 in a profile's place is the
// read-or-lease script's word on an absent one, handed to absent.
func decodeRead(vals []any, down []bool, ids, statusIDs []headline.UserID, absent func(id headline.UserID, flags int64)) Read {
	r := Read{Profiles: make([]Entry, len(ids)), Statuses: make([]Status, len(statusIDs))}
	for i, id := range ids {
		switch v := vals[i].(type) {
		case string:
			r.Profiles[i] = decodeEntry(id, v)
		case int64:
			if absent != nil {
				absent(id, v)
			}
		}
		r.Profiles[i].Down = down != nil && down[i]
	}
	for j := range statusIDs {
		r.Statuses[j] = statusOf(vals[len(ids)+j])
	}
	return r
}

func decodeEntry(id headline.UserID, s string) Entry {
	var e Entry
	e.User, e.Kind = decodeProfile(id, s)
	e.Corrupt = e.Kind == Miss
	return e
}

// statusOf is the status a read returned: StatusUnknown for nil (absent)
// or a value other than "0" and "1".
func statusOf(v any) Status {
	if s, ok := v.(string); ok {
		if st, ok := decodeStatus(s); ok {
			return st
		}
	}
	return StatusUnknown
}

// ReadOrLease is Read and Acquire in one round trip (one per node on a
// cluster): it reads the profile entries of ids and the status entries of
// statusIDs, and takes for ttl the lease of each profile that is absent,
// reporting the absent ones someone else holds in Lease.Held. With written
// it reads their fresh-window markers too (Lease.Written). A profile whose
// value is of another shape (Corrupt) gets no lease here: the caller
// leases it with Acquire before it overwrites it.
func (c *Cache) ReadOrLease(ctx context.Context, ids, statusIDs []headline.UserID, ttl time.Duration, written bool) (Read, Lease, error) {
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	tok := newToken()
	var vals []any
	var down []bool
	var err error
	if c.cc != nil {
		vals, down, err = c.readOrLeaseCluster(ctx, ids, statusIDs, tok, ttl, written)
	} else {
		err = c.breakers.of(AllNodes).do(func() (err error) {
			vals, err = c.readOrLeaseNode(ctx, ids, statusIDs, tok, ttl, written)
			return err
		})
	}
	if err != nil {
		return Read{}, Lease{}, fmt.Errorf("cache: read or lease %d keys: %w", len(ids)+len(statusIDs), err)
	}
	if len(vals) != len(ids)+len(statusIDs) {
		return Read{}, Lease{}, fmt.Errorf("cache: read or lease %d keys: %d values", len(ids)+len(statusIDs), len(vals))
	}
	l := Lease{tokens: map[headline.UserID]string{}}
	r := decodeRead(vals, down, ids, statusIDs, func(id headline.UserID, flags int64) { l.noteRead(id, tok, flags) })
	return r, l, nil
}

// noteRead records what the script said of an absent profile: flags bit 1,
// this batch took the lease; bit 2, its written marker lives.
func (l *Lease) noteRead(id headline.UserID, tok string, flags int64) {
	if flags&1 != 0 {
		l.tokens[id] = tok
	} else {
		l.Held = append(l.Held, id)
	}
	if flags&2 != 0 {
		if l.Written == nil {
			l.Written = make(map[headline.UserID]bool)
		}
		l.Written[id] = true
	}
}

// readArgs are the script's arguments for n profile keys.
func readArgs(n int, tok string, ttl time.Duration, written bool) []any {
	marks := "0"
	if written {
		marks = "1"
	}
	return []any{n, tok, ttl.Milliseconds(), marks}
}

// readOrLeaseNode runs the script once for the whole batch: one node holds
// every key.
func (c *Cache) readOrLeaseNode(ctx context.Context, ids, statusIDs []headline.UserID, tok string, ttl time.Duration, written bool) ([]any, error) {
	per := 2
	if written {
		per = 3
	}
	keys := make([]string, len(ids)*per, len(ids)*per+len(statusIDs))
	for i, id := range ids {
		keys[i], keys[len(ids)+i] = ProfileKey(id), LeaseKey(id)
		if written {
			keys[2*len(ids)+i] = WrittenKey(id)
		}
	}
	for _, id := range statusIDs {
		keys = append(keys, StatusKey(id))
	}
	args := readArgs(len(ids), tok, ttl, written)
	vals, err := c.rdb.EvalSha(ctx, readScript.Hash(), keys, args...).Slice()
	if isNoScript(err) {
		// The node does not hold the script yet (it restarted, or a replica
		// was promoted): EVAL sends and caches it.
		vals, err = c.rdb.Eval(ctx, readSource, keys, args...).Slice()
	}
	return vals, err
}

// readOrLeaseCluster sends, in one pipeline (one round trip per node, all
// nodes at once), the script for each profile key on its own (with its
// lease and marker, which share its slot) and a GET for each status key.
// It returns the values as readOrLeaseNode does, each profile's value
// unwrapped from its call's one-element reply; keys whose node failed or
// whose breaker is open are nil and down. The error is returned only when
// no key was read.
func (c *Cache) readOrLeaseCluster(ctx context.Context, ids, statusIDs []headline.UserID, tok string, ttl time.Duration, written bool) ([]any, []bool, error) {
	keys := batchKeys(ids, statusIDs)
	args := readArgs(1, tok, ttl, written)
	scriptKeys := func(i int) []string {
		if written {
			return []string{keys[i], LeaseKey(ids[i]), WrittenKey(ids[i])}
		}
		return []string{keys[i], LeaseKey(ids[i])}
	}
	cmds := make([]redis.Cmder, len(keys))
	errs := c.pipelined(ctx, c.breakers, keys, func(p redis.Pipeliner, i int) {
		if i < len(ids) {
			cmds[i] = readScript.EvalSha(ctx, p, scriptKeys(i), args...)
		} else {
			cmds[i] = p.Get(ctx, keys[i])
		}
	})
	c.evalMissingScripts(ctx, cmds, errs, scriptKeys, args)
	answered, err := tally(errs)
	if answered == 0 {
		return nil, nil, err
	}
	vals := make([]any, len(keys))
	var down []bool
	for i, cmd := range cmds {
		if errs[i] != nil {
			if down == nil {
				down = make([]bool, len(keys))
			}
			down[i] = true
			continue
		}
		vals[i] = clusterValue(cmd)
	}
	return vals, down, nil
}

// evalMissingScripts sends again, with EVAL, the calls a node answered
// NOSCRIPT (a node that restarted or was promoted lacks the script), in one
// more pipeline, and puts their replies and errors in place.
func (c *Cache) evalMissingScripts(ctx context.Context, cmds []redis.Cmder, errs []error, scriptKeys func(int) []string, args []any) {
	var again []int
	for i, cmd := range cmds {
		if errs[i] == nil && cmd != nil && isNoScript(cmd.Err()) {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return
	}
	keys := make([]string, len(again))
	for j, i := range again {
		keys[j] = scriptKeys(i)[0]
	}
	errs2 := c.pipelined(ctx, c.breakers, keys, func(p redis.Pipeliner, j int) {
		cmds[again[j]] = readScript.Eval(ctx, p, scriptKeys(again[j]), args...)
	})
	for j, i := range again {
		errs[i] = errs2[j]
	}
}

// clusterValue is a key's value as readOrLeaseNode would return it: a
// status GET's string or nil, or the one element of a script's reply.
func clusterValue(cmd redis.Cmder) any {
	switch cmd := cmd.(type) {
	case *redis.StringCmd:
		if cmd.Err() != nil {
			return nil // redis.Nil: absent
		}
		return cmd.Val()
	case *redis.Cmd:
		if vs, err := cmd.Slice(); err == nil && len(vs) == 1 {
			return vs[0]
		}
	}
	return nil
}

// isNoScript reports whether err is Redis's answer to EVALSHA of a script
// it does not hold: an answer, not a failure of the node.
func isNoScript(err error) bool {
	var re redis.Error
	return err != nil && errors.As(err, &re) && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// Holds reports whether this batch holds id's lease.
func (l Lease) Holds(id headline.UserID) bool {
	_, ok := l.tokens[id]
	return ok
}

// Merge returns the leases of l and o together, for a batch that took some
// with its read and the rest with Acquire.
func (l Lease) Merge(o Lease) Lease {
	out := Lease{tokens: make(map[headline.UserID]string, len(l.tokens)+len(o.tokens))}
	for _, x := range []Lease{l, o} {
		for id, tok := range x.tokens {
			out.tokens[id] = tok
		}
		out.Held = append(out.Held, x.Held...)
		for id := range x.Written {
			if out.Written == nil {
				out.Written = make(map[headline.UserID]bool)
			}
			out.Written[id] = true
		}
	}
	return out
}
