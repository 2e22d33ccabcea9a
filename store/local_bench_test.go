package store_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline"
	"github.com/headline/headline/store"
	"github.com/headline/headline/store/localcache"
	"github.com/headline/headline/store/storetest"
)

// BenchmarkLocalMiss compares, for batches the local tier lacks, the
// read-or-lease script with a plain MGET (and, when something is absent, a
// lease pipeline): a batch of 20 warm in Redis, and a cold batch of 20 (ids
// with no user: the read, one SELECT, the fill of "-1"). Besides time and
// allocations it reports the Redis round trips, the commands Redis ran
// (INFO commandstats, which counts those inside scripts) and the CPU time
// Redis spent (INFO cpu), each per batch, on a redis-server of its own:
//
//	go test ./store -run X -bench LocalMiss -benchmem
func BenchmarkLocalMiss(b *testing.B) {
	for _, read := range []struct {
		name string
		mget bool
	}{{"script", false}, {"mget", true}} {
		b.Run("warm-in-redis/"+read.name, func(b *testing.B) { benchLocalMiss(b, read.mget, false) })
		b.Run("cold/"+read.name, func(b *testing.B) { benchLocalMiss(b, read.mget, true) })
	}
}

func benchLocalMiss(b *testing.B, mget, cold bool) {
	e, srv := singleNodeTier(b, store.ProfilesOptions{})
	if mget {
		store.UseMGetOnLocalMiss(e.p)
	}
	const n = 20
	ids := make([]headline.UserID, n)
	local := make([]localcache.Key, n)
	first := storetest.IDs(b, n)
	for i := range ids {
		ids[i] = first + headline.UserID(i)
		local[i] = localcache.Key{ID: ids[i], Kind: localcache.Info}
	}
	ctx := context.Background()
	e.p.Get(ctx, ids) // warm in Redis (and the script loaded)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer admin.Close()
	e.rc.Reset()
	cpu0, calls0 := redisUsage(b, admin)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if cold {
			for j := range ids {
				ids[j] = storetest.IDs(b, 1)
			}
		} else {
			e.tier.Invalidate(local...)
		}
		e.p.Get(ctx, ids)
	}
	b.StopTimer()
	cpu1, calls1 := redisUsage(b, admin)
	ops := float64(b.N)
	b.ReportMetric(float64(e.rc.RoundTrips())/ops, "roundtrips/op")
	b.ReportMetric(float64(calls1-calls0)/ops, "redis-cmds/op")
	b.ReportMetric((cpu1-cpu0)*1e6/ops, "redis-cpu-µs/op")
}

// redisUsage reads the CPU time Redis has used (user and system, seconds)
// and the commands it has run.
func redisUsage(b *testing.B, c *redis.Client) (cpu float64, calls int64) {
	b.Helper()
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("INFO cpu: %q", line)
			}
			cpu += f
		}
	}
	return cpu, storetest.RedisCommandCalls(b, c)
}
