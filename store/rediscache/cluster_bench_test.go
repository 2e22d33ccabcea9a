package rediscache_test

import (
	"context"
	"fmt"
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
	rc := storetest.StartRedisCluster(b, 3, 0)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs()})
	b.Cleanup(func() { _ = cc.Close() })
	ctx := context.Background()

	keys := make([]string, 50)
	first := storetest.IDs(b, len(keys))
	bySlot := map[int64][]string{}
	for i := range keys {
		keys[i] = rediscache.ProfileKey(first + int64(i))
		v := fmt.Sprintf(`{"name":"u%d","photo":"https://img.example.com/%d.png","intro":"hello","certi":""}`, i, i)
		if err := cc.Set(ctx, keys[i], v, 0).Err(); err != nil {
			b.Fatal(err)
		}
		slot, err := cc.ClusterKeySlot(ctx, keys[i]).Result()
		if err != nil {
			b.Fatal(err)
		}
		bySlot[slot] = append(bySlot[slot], keys[i])
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
