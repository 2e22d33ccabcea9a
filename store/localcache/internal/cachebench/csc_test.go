package cachebench

import (
	"context"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startRedis runs a redis-server of the test's own on a free port.
func startRedis(t *testing.T) string { return startRedisB(t) }

func startRedisB(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Skipf("redis-server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
	}
	t.Fatal("redis-server did not start")
	return ""
}

// calls returns how many times the server ran cmd since the last reset.
func calls(t *testing.T, c *redis.Client, cmd string) int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

// cscClients returns a plain client (the Flask app's) and, for db, a
// client with go-redis's built-in cache, on a redis-server of the test's.
func cscClients(t *testing.T) (outside *redis.Client, csc func(db int) *redis.Client) {
	addr := startRedis(t)
	outside = redis.NewClient(&redis.Options{Addr: addr, Protocol: 2})
	t.Cleanup(func() { _ = outside.Close() })
	return outside, func(db int) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: addr, DB: db, Protocol: 3,
			ClientSideCacheConfig: &redis.ClientSideCacheConfig{MaxMemoryBytes: 64 << 20}})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
}

// TestCSCReads tries go-redis v9.23's built-in client-side cache on the
// reads headline makes. It logs what it sees; it asserts nothing about the
// library.
func TestCSCReads(t *testing.T) {
	ctx := context.Background()
	outside, csc := cscClients(t)
	c := csc(0)
	for i := range 10 {
		outside.Set(ctx, "user:"+strconv.Itoa(i)+":info", value(uint64(i)), 0)
	}
	for _, tc := range []struct {
		name  string
		cmd   string
		reads []func() error
	}{
		{"GET of one key", "get", []func() error{
			func() error { return c.Get(ctx, "user:1:info").Err() },
			func() error { return c.Get(ctx, "user:1:info").Err() },
		}},
		{"MGET of the same batch", "mget", []func() error{
			func() error { return c.MGet(ctx, "user:1:info", "user:2:info").Err() },
			func() error { return c.MGet(ctx, "user:1:info", "user:2:info").Err() },
		}},
		{"MGET of the same keys in another order", "mget", []func() error{
			func() error { return c.MGet(ctx, "user:3:info", "user:4:info").Err() },
			func() error { return c.MGet(ctx, "user:4:info", "user:3:info").Err() },
		}},
		{"MGET of a batch then of one of its keys", "mget", []func() error{
			func() error { return c.MGet(ctx, "user:5:info", "user:6:info").Err() },
			func() error { return c.MGet(ctx, "user:5:info").Err() },
		}},
		{"pipelined GETs (the cluster's path)", "get", []func() error{
			func() error {
				_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error { p.Get(ctx, "user:7:info"); p.Get(ctx, "user:8:info"); return nil })
				return err
			},
			func() error {
				_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error { p.Get(ctx, "user:7:info"); p.Get(ctx, "user:8:info"); return nil })
				return err
			},
		}},
	} {
		outside.ConfigResetStat(ctx)
		for _, read := range tc.reads {
			if err := read(); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%s: %d reads, %d reached Redis", tc.name, len(tc.reads), calls(t, outside, tc.cmd))
	}
	other := csc(3)
	outside.ConfigResetStat(ctx)
	other.Get(ctx, "user:1:info")
	other.Get(ctx, "user:1:info")
	t.Logf("GET of one key twice on DB 3: %d reached Redis", calls(t, outside, "get"))
}

// TestCSCStaleness: how long after an outside SET the cache serves the old
// value, and whether a read of the new value can be followed by the old.
func TestCSCStaleness(t *testing.T) {
	ctx := context.Background()
	outside, csc := cscClients(t)
	c := csc(0)
	var delays []time.Duration
	var staleAfterWrite, staleAfterRead int
	key := "user:1:info"
	outside.Set(ctx, key, "v", 0)
	for i := range 200 {
		if _, err := c.Get(ctx, key).Result(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i%20) * time.Millisecond) // the pool idle for a while, or not
		want := "v" + strconv.Itoa(i)
		start := time.Now()
		outside.Set(ctx, key, want, 0)
		got, _ := c.Get(ctx, key).Result()
		if got != want {
			staleAfterWrite++ // the write had completed
		}
		if i%2 == 1 {
			// A read on an uncached path (GETEX is not on
			// go-redis's list): the server's answer.
			if got, _ := c.GetEx(ctx, key, 0).Result(); got != want {
				t.Fatalf("GETEX = %q, want %q", got, want)
			}
			if got, _ = c.Get(ctx, key).Result(); got != want {
				staleAfterRead++
			}
		}
		for got != want {
			got, _ = c.Get(ctx, key).Result()
		}
		delays = append(delays, time.Since(start))
	}
	slices.Sort(delays)
	t.Logf("200 outside SETs: the new value seen after median %v, p99 %v, max %v; "+
		"a GET right after the SET completed was stale %d times; "+
		"a GET right after an uncached read of the new value returned the old one %d times in 100",
		delays[100], delays[197], delays[199], staleAfterWrite, staleAfterRead)
}

// BenchmarkCSCGetHit is a cached GET of one key: a hit returns the raw
// reply, which the store would still decode.
func BenchmarkCSCGetHit(b *testing.B) {
	addr := startRedisB(b)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 3,
		ClientSideCacheConfig: &redis.ClientSideCacheConfig{MaxMemoryBytes: 64 << 20}})
	defer c.Close()
	c.Set(ctx, "user:1:info", value(1), 0)
	c.Get(ctx, "user:1:info")
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Get(ctx, "user:1:info").Err(); err != nil {
			b.Fatal(err)
		}
	}
}
