package rediscache_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

// BenchmarkClusterBatchRead compares two ways to read a 50-key batch of the
// Flask app's keys (no hash tags) from a 3-master Redis Cluster, both one
// round trip per master, all masters at once: one GET per key (what the
// cache does), and one MGET per slot. With 16384 slots, 50 keys fall in
// about 50 slots, so an MGET per slot is about one MGET per key:
//
//	go test ./store/rediscache -run X -bench ClusterBatchRead -benchtime 3s
func BenchmarkClusterBatchRead(b *testing.B) {
	cc, keys := clusterKeys(b, 50)
	ctx := context.Background()
	bySlot := map[int64][]string{}
	for _, k := range keys {
		slot, err := cc.ClusterKeySlot(ctx, k).Result()
		if err != nil {
			b.Fatal(err)
		}
		bySlot[slot] = append(bySlot[slot], k)
	}
	b.Logf("50 keys in %d slots", len(bySlot))

	for _, bc := range []struct {
		name string
		read func(p redis.Pipeliner) int // queues the reads; returns the commands queued
	}{
		{"GET-per-key", func(p redis.Pipeliner) int {
			for _, k := range keys {
				p.Get(ctx, k)
			}
			return len(keys)
		}},
		{"MGET-per-slot", func(p redis.Pipeliner) int {
			for _, ks := range bySlot {
				p.MGet(ctx, ks...)
			}
			return len(bySlot)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var cmds int
			for b.Loop() {
				p := cc.Pipeline()
				cmds = bc.read(p)
				if _, err := p.Exec(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cmds), "cmds/op")
		})
	}
}

// BenchmarkClusterRead measures what the per-master breakers add to a
// 50-key cluster read: the same pipeline of GETs sent plainly, and through
// the cache's pipelinedGet (each key's master looked up in the slot map, one breaker
// asked and told per master):
//
//	go test ./store/rediscache -run X -bench ClusterRead -benchtime 3s
func BenchmarkClusterRead(b *testing.B) {
	cc, keys := clusterKeys(b, 50)
	ctx := context.Background()
	c := rediscache.New(cc, rediscache.TTLs{}).WithBreaker(rediscache.BreakerOptions{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.Run("plain-pipeline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range keys {
					p.Get(ctx, k)
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("per-master-breakers", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, down, err := c.PipelinedGet(ctx, keys); err != nil || down != nil {
				b.Fatal(err, down)
			}
		}
	})
}

// clusterKeys starts a 3-master cluster of the benchmark's own and writes n
// profiles of the Flask app's keys (no hash tags, so about one slot each).
func clusterKeys(b *testing.B, n int) (*redis.ClusterClient, []string) {
	rc := storetest.StartRedisCluster(b, 3, 0)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs()})
	b.Cleanup(func() { _ = cc.Close() })
	keys := make([]string, n)
	first := storetest.IDs(b, n)
	for i := range keys {
		keys[i] = rediscache.ProfileKey(first + int64(i))
		v := fmt.Sprintf(`{"name":"u%d","photo":"https://img.example.com/%d.png","intro":"hello","certi":""}`, i, i)
		if err := cc.Set(context.Background(), keys[i], v, 0).Err(); err != nil {
			b.Fatal(err)
		}
	}
	return cc, keys
}
