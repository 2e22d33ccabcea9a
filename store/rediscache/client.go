package rediscache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Topology says which Redis the cache is on — one node, a master that
// Sentinel manages, or a cluster: one of URL, SentinelAddrs and
// ClusterAddrs — and how its client is bounded.
type Topology struct {
	URL            string // REDIS_URL: redis:// or rediss:// URL of one node
	SentinelAddrs  string // REDIS_SENTINEL_ADDRS: comma-separated sentinels
	SentinelMaster string // REDIS_SENTINEL_MASTER: the master's name
	ClusterAddrs   string // REDIS_CLUSTER_ADDRS: comma-separated startup nodes
	ClientOptions
}

// Count counts the topologies o names; Open wants one.
func (o Topology) Count() int {
	n := 0
	for _, s := range []string{o.URL, o.SentinelAddrs, o.ClusterAddrs} {
		if s != "" {
			n++
		}
	}
	return n
}

// Open connects to the topology o names with go-redis's own clients, as
// Options marks it: a Sentinel-managed master follows failovers, a cluster
// routes each key to its node.
func Open(o Topology) (redis.UniversalClient, error) {
	u, err := o.Options()
	if err != nil {
		return nil, err
	}
	return redis.NewUniversalClient(u), nil
}

// Options are the go-redis options of the topology o names, bounded as
// Open's client is, with the topology marked the way
// redis.NewUniversalClient reads it: MasterName for Sentinel, IsClusterMode
// for a cluster (whose one startup node would otherwise read as one node).
// The local tier's tracker (localcache.TrackerOptions) takes them.
func (o Topology) Options() (*redis.UniversalOptions, error) {
	split := func(s string) []string {
		var out []string
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				out = append(out, a)
			}
		}
		return out
	}
	switch {
	case o.ClusterAddrs != "":
		return tune(redis.UniversalOptions{Addrs: split(o.ClusterAddrs), IsClusterMode: true}, o.ClientOptions), nil
	case o.SentinelAddrs != "":
		if o.SentinelMaster == "" {
			return nil, errors.New("REDIS_SENTINEL_ADDRS needs REDIS_SENTINEL_MASTER")
		}
		return tune(redis.UniversalOptions{MasterName: o.SentinelMaster, Addrs: split(o.SentinelAddrs)}, o.ClientOptions), nil
	default:
		opt, err := redis.ParseURL(o.URL)
		if err != nil {
			return nil, errors.New("REDIS_URL: want redis://[user:pass@]host:port[/db] or rediss://…")
		}
		return nodeOptions(opt, o.ClientOptions), nil
	}
}

// Where names the Redis o names, for logs: without the password a URL may
// hold.
func (o Topology) Where() string {
	switch {
	case o.ClusterAddrs != "":
		return "cluster " + o.ClusterAddrs
	case o.SentinelAddrs != "":
		return "master " + o.SentinelMaster + " of sentinels " + o.SentinelAddrs
	}
	if opt, err := redis.ParseURL(o.URL); err == nil {
		return opt.Addr
	}
	return ""
}

// LogRedisTo sends what go-redis logs by itself (pool trouble, failed
// dials) to log, as warnings. Its logger is process-wide.
func LogRedisTo(log *slog.Logger) { redis.SetLogger(redisLog{log}) }

// redisLog adapts go-redis's logger to slog.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

// ClientOptions are the bounds of the cache's Redis client: the
// REDIS_*_TIMEOUT and REDIS_POOL_SIZE settings.
type ClientOptions struct {
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	PoolSize                               int // 0: go-redis's default, 10 per CPU
}

// DefaultClientOptions are the settings' defaults: a Redis that does not
// answer costs 100 ms, then the database answers.
var DefaultClientOptions = ClientOptions{DialTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond}

// tune applies c to o, for any topology, so that a Redis failure
// costs the cache what it expects. go-redis's defaults (5 s timeouts, 3
// retries, 5 dial attempts) would make a dead Redis cost seconds per
// request; here a failure costs one short timeout and is a cache miss. A
// cluster's redirects (MOVED/ASK, while slots move or a replica is
// promoted) are still followed.
func tune(o redis.UniversalOptions, c ClientOptions) *redis.UniversalOptions {
	o.DialTimeout = c.DialTimeout
	o.ReadTimeout = c.ReadTimeout
	o.WriteTimeout = c.WriteTimeout
	o.PoolTimeout = c.ReadTimeout + c.DialTimeout
	o.MaxRetries = -1
	o.DialerRetries = 1
	o.MaxRedirects = 3
	// The cache bounds each call with a context deadline (pool wait
	// included); go-redis honours it only when told to.
	o.ContextTimeoutEnabled = true
	if c.PoolSize > 0 {
		// A hard cap: a hung Redis must not make the pool dial past it.
		o.PoolSize, o.MaxActiveConns = c.PoolSize, c.PoolSize
	}
	return &o
}

// NewClient is a client on the one node opt names, bounded by c.
func NewClient(opt *redis.Options, c ClientOptions) *redis.Client {
	return redis.NewClient(nodeOptions(opt, c).Simple())
}

// nodeOptions are the options of the one node opt names, bounded by c.
func nodeOptions(opt *redis.Options, c ClientOptions) *redis.UniversalOptions {
	return tune(redis.UniversalOptions{
		Addrs: []string{opt.Addr}, DB: opt.DB, Username: opt.Username, Password: opt.Password,
		TLSConfig: opt.TLSConfig, Protocol: opt.Protocol,
	}, c)
}
