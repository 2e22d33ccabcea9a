package localcache

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// TrackerOptions says how a Tracker reaches Redis.
type TrackerOptions struct {
	// Redis names the deployment as the server's own client does, and
	// picks the topology as redis.NewUniversalClient would: MasterName set
	// is a Sentinel-managed master (Addrs are the sentinels); IsClusterMode
	// or two Addrs or more is a Redis Cluster (Addrs are seed nodes);
	// otherwise the one node Addrs[0]. Credentials, TLS, Dialer and the
	// dial, read and write timeouts apply to the tracker's connections; DB
	// does not matter (tracking spans the whole server). Required.
	Redis *redis.UniversalOptions
	// Poll is how often the masters are looked up again (CLUSTER SLOTS, or
	// the sentinels' master address): a failover or a new master is seen
	// this late at most, unless the old master's connection broke first,
	// which stops the tier at once. Default 1s.
	Poll time.Duration
	// Ping is how long a tracking connection may stay silent before it is
	// pinged; when the ping is not answered within as long again, the
	// connection counts as lost. It bounds how long a connection that died
	// without a reset (a partition) goes unnoticed: 2×Ping. Default 1s.
	Ping time.Duration
	// Log receives the tracker's state changes. Default slog.Default().
	Log *slog.Logger
}

// sink is what a Tracker drives: a Tier of any value type.
type sink interface {
	invalidateRedisKeys(keys []string)
	flush()
	suspend()
	resume()
}

// Tracker keeps a Tier coherent with Redis by server-assisted client-side
// caching: on every master, one connection of its own has CLIENT TRACKING
// on in broadcast mode for Prefix, with the invalidations redirected to
// itself, and applies them to the tier as they arrive. The tier is usable
// only while every master's connection is up; a lost connection, a
// reconnection and a change of the set of masters each flush it.
type Tracker struct {
	sink   sink
	opt    TrackerOptions
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	source masterSource // nil: one node, fixed

	mu     sync.Mutex
	feeds  map[string]*feed // by master address
	usable bool
	closed bool
}

// masterSource finds the masters of a Sentinel set or a cluster.
type masterSource interface {
	masters(ctx context.Context) ([]string, error)
	close()
}

// NewTracker starts tracking for tier and returns at once; the tier turns
// usable when every master tracks. A nil tier (the tier is off) gets a nil
// Tracker, which opens no connection and whose Close does nothing.
func NewTracker[V any](tier *Tier[V], opt TrackerOptions) (*Tracker, error) {
	if tier == nil {
		return nil, nil
	}
	if opt.Redis == nil {
		return nil, errors.New("localcache: TrackerOptions.Redis is required")
	}
	if opt.Poll <= 0 {
		opt.Poll = time.Second
	}
	if opt.Ping <= 0 {
		opt.Ping = time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	// Whatever the tier held was not tracked by this tracker.
	tier.suspend()
	t := &Tracker{sink: tier, opt: opt, log: opt.Log.With("component", "localcache"), feeds: map[string]*feed{}}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	o := opt.Redis
	switch {
	case o.MasterName != "":
		t.source = newSentinelSource(o)
	case o.IsClusterMode || len(o.Addrs) > 1:
		t.source = newClusterSource(o)
	default:
		t.setMasters([]string{o.Simple().Addr})
		return t, nil
	}
	t.wg.Add(1)
	go t.watch()
	return t, nil
}

// Close stops tracking, suspends the tier and waits for the tracker's
// goroutines; its connections are closed when it returns.
func (t *Tracker) Close() error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	feeds := t.feeds
	t.feeds = nil
	t.sink.suspend()
	t.usable = false
	t.mu.Unlock()
	t.cancel()
	for _, f := range feeds {
		f.stop()
	}
	t.wg.Wait()
	if t.source != nil {
		t.source.close()
	}
	return nil
}

// Masters returns the masters tracked now, each with whether its tracking
// connection is up.
func (t *Tracker) Masters() map[string]bool {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]bool, len(t.feeds))
	for addr, f := range t.feeds {
		out[addr] = f.up
	}
	return out
}

// watch looks the masters up now and every Poll.
func (t *Tracker) watch() {
	defer t.wg.Done()
	tick := time.NewTicker(t.opt.Poll)
	defer tick.Stop()
	for {
		// Each node's client has its own timeouts; this bounds a round
		// over many dead ones.
		ctx, cancel := context.WithTimeout(t.ctx, t.opt.Poll+2*time.Second)
		addrs, err := t.source.masters(ctx)
		cancel()
		switch {
		case err == nil:
			t.setMasters(addrs)
		case t.ctx.Err() == nil:
			// Keep tracking the masters known; their own connections
			// say whether they are alive.
			t.log.Debug("look up masters", "err", err)
		}
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// setMasters makes the tracked masters addrs. A change flushes the tier: a
// promoted replica may lack writes the old master had (replication is
// asynchronous), and a new master's writes were not tracked before.
func (t *Tracker) setMasters(addrs []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || len(addrs) == 0 {
		return
	}
	slices.Sort(addrs)
	if slices.Equal(addrs, slices.Sorted(maps.Keys(t.feeds))) {
		return
	}
	t.log.Info("tracking masters", "masters", addrs, "before", slices.Sorted(maps.Keys(t.feeds)))
	for addr, f := range t.feeds {
		if !slices.Contains(addrs, addr) {
			delete(t.feeds, addr)
			f.stop()
		}
	}
	for _, addr := range addrs {
		if t.feeds[addr] == nil {
			f := newFeed(t, addr)
			t.feeds[addr] = f
			t.wg.Add(1)
			go f.run()
		}
	}
	if t.usable {
		t.sink.suspend()
		t.usable = false
		t.log.Warn("local cache off until every master tracks", "reason", "masters changed")
	}
}

// report records that f's tracking connection is up (a subscription was
// confirmed on a connection whose handshake turned tracking on) or lost.
func (t *Tracker) report(f *feed, up bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.feeds[f.addr] != f {
		return
	}
	if up && f.up {
		// A second confirmation: go-redis reconnected on its own, and
		// writes between the two connections went unreported.
		t.sink.flush()
	}
	switch {
	case !up && f.up:
		t.log.Warn("tracking connection lost", "master", f.addr, "err", err)
	case !up && !f.warned:
		// Once until it is up: a server without CLIENT TRACKING (Redis
		// before 6, miniredis) or a user without the right to it would
		// otherwise keep the tier off without a word.
		t.log.Warn("tracking not on; retrying", "master", f.addr, "err", err)
		f.warned = true
	case up:
		f.warned = false
	}
	f.up = up
	all := len(t.feeds) > 0
	for _, g := range t.feeds {
		all = all && g.up
	}
	switch {
	case all && !t.usable:
		t.sink.resume()
		t.usable = true
		t.log.Info("local cache on: every master tracks", "masters", len(t.feeds))
	case !all && t.usable:
		t.sink.suspend()
		t.usable = false
		t.log.Warn("local cache off until every master tracks", "master", f.addr, "err", err)
	}
}
