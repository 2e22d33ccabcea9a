package rediscache_test

import (
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline/store/rediscache"
)

// TestTopologyOptions: the options a tracker takes name the topology as
// redis.NewUniversalClient reads it — a cluster of one startup node is a
// cluster — with the client's bounds.
func TestTopologyOptions(t *testing.T) {
	bounds := rediscache.ClientOptions{DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 3 * time.Second}
	for _, tc := range []struct {
		name string
		topo rediscache.Topology
		want func(*testing.T, *redis.UniversalOptions, redis.UniversalClient)
	}{
		{"a cluster of one startup node", rediscache.Topology{ClusterAddrs: " 127.0.0.1:7000 "}, func(t *testing.T, o *redis.UniversalOptions, c redis.UniversalClient) {
			if _, ok := c.(*redis.ClusterClient); !ok || !o.IsClusterMode || !slices.Equal(o.Addrs, []string{"127.0.0.1:7000"}) {
				t.Errorf("%T, IsClusterMode %v, Addrs %q; want a cluster client on 127.0.0.1:7000", c, o.IsClusterMode, o.Addrs)
			}
		}},
		{"Sentinel", rediscache.Topology{SentinelAddrs: "127.0.0.1:1,127.0.0.1:2", SentinelMaster: "m"}, func(t *testing.T, o *redis.UniversalOptions, c redis.UniversalClient) {
			if o.MasterName != "m" || len(o.Addrs) != 2 || o.IsClusterMode {
				t.Errorf("MasterName %q, Addrs %q, IsClusterMode %v", o.MasterName, o.Addrs, o.IsClusterMode)
			}
		}},
		{"one node", rediscache.Topology{URL: "redis://u:p@127.0.0.1:6390/3"}, func(t *testing.T, o *redis.UniversalOptions, c redis.UniversalClient) {
			if _, ok := c.(*redis.Client); !ok || !slices.Equal(o.Addrs, []string{"127.0.0.1:6390"}) || o.DB != 3 || o.Username != "u" || o.Password != "p" {
				t.Errorf("%T, Addrs %q, DB %d, user %q", c, o.Addrs, o.DB, o.Username)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.topo.ClientOptions = bounds
			o, err := tc.topo.Options()
			if err != nil {
				t.Fatal(err)
			}
			if o.DialTimeout != time.Second || o.ReadTimeout != 2*time.Second || o.WriteTimeout != 3*time.Second || o.MaxRetries != -1 {
				t.Errorf("bounds %v %v %v retries %d, want the client's", o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries)
			}
			c := redis.NewUniversalClient(o)
			defer c.Close()
			tc.want(t, o, c)
		})
	}
	if _, err := (rediscache.Topology{SentinelAddrs: "127.0.0.1:1"}).Options(); err == nil {
		t.Error("Sentinel without a master name: no error")
	}
}
