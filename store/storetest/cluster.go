package storetest

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a Redis Cluster of a test's own on free loopback ports.
type RedisCluster struct {
	Nodes []*RedisServer
}

// Addrs lists every node, for REDIS_CLUSTER_ADDRS.
func (c *RedisCluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// StartRedisCluster starts masters×(1+replicas) redis-servers with
// cluster mode on, joins them with redis-cli --cluster create and waits
// until every node reports cluster_state:ok. They stop when the test ends.
func StartRedisCluster(t testing.TB, masters, replicas int) *RedisCluster {
	t.Helper()
	cli := needBinary(t, "redis-cli")
	c := &RedisCluster{}
	for range masters * (1 + replicas) {
		c.Nodes = append(c.Nodes, StartRedisServer(t, "--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000"))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", itoa(replicas), "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitOK(t, c.Nodes)
	return c
}

// WaitOK waits until each of nodes says cluster_state:ok, up to 20s.
func (c *RedisCluster) WaitOK(t testing.TB, nodes []*RedisServer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range nodes {
		cl := redis.NewClient(&redis.Options{Addr: n.Addr})
		for {
			info, err := cl.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				_ = cl.Close()
				t.Fatalf("cluster node %s not ok after 20s: %v %s", n.Addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = cl.Close()
	}
}

// Masters returns the nodes that are masters now.
func (c *RedisCluster) Masters(t testing.TB) []*RedisServer {
	t.Helper()
	var out []*RedisServer
	for _, n := range c.Nodes {
		if n.cmd == nil {
			continue
		}
		cl := redis.NewClient(&redis.Options{Addr: n.Addr})
		info, err := cl.Info(context.Background(), "replication").Result()
		_ = cl.Close()
		if err == nil && strings.Contains(info, "role:master") {
			out = append(out, n)
		}
	}
	return out
}

func itoa(n int) string {
	return strconv.Itoa(n)
}

// WaitReplicasSynced waits until every replica has completed its first
// sync (master_link_status:up), up to 20s. Redis Cluster does not promote a
// replica that never synced (its data age is unbounded, past
// cluster-replica-validity-factor), and a master's first full sync waits
// repl-diskless-sync-delay (5s) for more replicas, which this sets to 0.
func (c *RedisCluster) WaitReplicasSynced(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	for _, n := range c.Nodes {
		cl := redis.NewClient(&redis.Options{Addr: n.Addr})
		err := cl.ConfigSet(ctx, "repl-diskless-sync-delay", "0").Err()
		_ = cl.Close()
		if err != nil {
			t.Fatalf("CONFIG SET at %s: %v", n.Addr, err)
		}
	}
	deadline := start.Add(20 * time.Second)
	for _, n := range c.Nodes {
		cl := redis.NewClient(&redis.Options{Addr: n.Addr})
		for {
			info, err := cl.Info(ctx, "replication").Result()
			if err == nil && (strings.Contains(info, "role:master") || strings.Contains(info, "master_link_status:up")) {
				break
			}
			if time.Now().After(deadline) {
				_ = cl.Close()
				t.Fatalf("replica %s not in sync after 20s: %v\n%s", n.Addr, err, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = cl.Close()
	}
	t.Logf("replicas in sync %v after the cluster was up", time.Since(start).Round(time.Millisecond))
}

// Node returns the node listening on addr, nil if none.
func (c *RedisCluster) Node(addr string) *RedisServer {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}
