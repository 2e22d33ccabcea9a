package rediscache

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// nodeOf names the node whose breaker guards key: on a cluster the master
// that owns key's slot in the client's slot map (no round trip once the map
// is loaded); elsewhere AllNodes. A key whose master cannot be told (no
// slot map yet, the cluster unreachable) goes to the breaker of node "".
func (c *Cache) nodeOf(ctx context.Context, key string) string {
	if c.cc == nil {
		return AllNodes
	}
	m, err := c.cc.MasterForKey(ctx, key)
	if err != nil {
		return ""
	}
	return m.Options().Addr
}

// nodeCall is one node's part in a pipeline: what its breaker said, and
// the first failure among its keys.
type nodeCall struct {
	done func(error) // nil: the breaker kept the node's keys back
	err  error
}

// pipelined sends, in one pipeline, the commands that queue adds for each
// key whose node's breaker lets it through, and tells each node's breaker
// how its keys fared. It returns one error per key: nil when its commands
// were answered (a missing key, redis.Nil, is an answer, and so is
// NOSCRIPT), ErrBreakerOpen when its breaker kept it back, else the first
// error of its commands.
//
// It sends through the client's own pipeline, which go-redis splits into
// one round trip per node on a cluster and whose MOVED and ASK redirections
// it follows, rather than through per-node clients: the breakers only
// choose which keys go out, and learn from each key's answer.
func (c *Cache) pipelined(ctx context.Context, bs *breakers, keys []string, queue func(p redis.Pipeliner, i int)) []error {
	errs := make([]error, len(keys))
	nodes := make([]string, len(keys))
	calls := make(map[string]*nodeCall, 3)
	sent := false
	for i, k := range keys {
		n := c.nodeOf(ctx, k)
		nodes[i] = n
		nc, ok := calls[n]
		if !ok {
			nc = &nodeCall{}
			nc.done, _ = bs.of(n).allow()
			calls[n] = nc
		}
		if nc.done == nil {
			errs[i] = ErrBreakerOpen
		} else {
			sent = true
		}
	}
	if !sent {
		return errs
	}
	// starts[i] is the index of key i's first command in the pipeline.
	starts := make([]int, len(keys)+1)
	cmds, perr := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range keys {
			starts[i] = p.Len()
			if errs[i] == nil {
				queue(p, i)
			}
		}
		starts[len(keys)] = p.Len()
		return nil
	})
	if len(cmds) < starts[len(keys)] {
		// Not sent at all (go-redis hands back its commands otherwise).
		if perr == nil {
			perr = errors.New("pipeline returned no commands")
		}
		cmds = nil
	}
	failed := false
	for i := range keys {
		if cmds == nil && errs[i] == nil {
			errs[i] = perr
		}
		for _, cmd := range cmds[min(starts[i], len(cmds)):min(starts[i+1], len(cmds))] {
			// NOSCRIPT is an answer too: the caller sends the script again.
			if err := cmd.Err(); err != nil && !errors.Is(err, redis.Nil) && !isNoScript(err) {
				errs[i] = err
				break
			}
		}
		if errs[i] != nil && !errors.Is(errs[i], ErrBreakerOpen) {
			failed = true
			if nc := calls[nodes[i]]; nc.err == nil {
				nc.err = errs[i]
			}
		}
	}
	for _, nc := range calls {
		if nc.done != nil {
			nc.done(nc.err)
		}
	}
	if failed {
		c.nodeFailed(ctx)
	}
	return errs
}

// tally sums up the per-key errors of pipelined: how many keys were
// answered, and the first failure, or ErrBreakerOpen when no key failed but
// some were kept back.
func tally(errs []error) (answered int, err error) {
	for _, e := range errs {
		switch {
		case e == nil:
			answered++
		case errors.Is(e, ErrBreakerOpen):
			if err == nil {
				err = e
			}
		case err == nil || errors.Is(err, ErrBreakerOpen):
			err = e
		}
	}
	return answered, err
}
