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

// BenchmarkClusterRead measures what the per-master breakers add to a
// 50-key cluster read: the same pipeline of GETs sent plainly, and through
// the cache's pipelinedGet (each key's master looked up in the slot map, one breaker
// asked and told per master):
//
//	go test ./store/rediscache -run X -bench ClusterRead -benchtime 3s
func BenchmarkClusterRead(b *testing.B) {
	rc := storetest.StartRedisCluster(b, 3, 0)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs()})
	b.Cleanup(func() { _ = cc.Close() })
	ctx := context.Background()
	keys := make([]string, 50)
	first := storetest.IDs(b, len(keys))
	for i := range keys {
		keys[i] = rediscache.ProfileKey(first + int64(i))
		if err := cc.Set(ctx, keys[i], fmt.Sprintf(`{"name":"u%d","photo":null,"intro":null,"certi":null}`, i), 0).Err(); err != nil {
			b.Fatal(err)
		}
	}
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
