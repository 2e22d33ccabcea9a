package sqldb

import (
	"testing"
	"time"
)

// TestMySQLTimeouts: a DSN that sets no timeouts gets the defaults (or
// PoolOptions'); one that sets any keeps its own, 0 included.
func TestMySQLTimeouts(t *testing.T) {
	const base = "u:p@tcp(db:3306)/toutiao"
	for _, tc := range []struct {
		name              string
		dsn               string
		pool              PoolOptions
		dial, read, write time.Duration
	}{
		{"none set: the defaults", base, PoolOptions{}, DefaultPoolOptions.DialTimeout, DefaultPoolOptions.ReadTimeout, DefaultPoolOptions.WriteTimeout},
		{"none set, the pool's", base, PoolOptions{ReadTimeout: time.Hour}, DefaultPoolOptions.DialTimeout, time.Hour, DefaultPoolOptions.WriteTimeout},
		{"all set", base + "?timeout=7s&readTimeout=8s&writeTimeout=9s", PoolOptions{ReadTimeout: time.Hour}, 7 * time.Second, 8 * time.Second, 9 * time.Second},
		{"readTimeout=0 means none", base + "?parseTime=true&readTimeout=0", PoolOptions{}, DefaultPoolOptions.DialTimeout, 0, DefaultPoolOptions.WriteTimeout},
		{"a password with ? and / in it", "u:p?readTimeout=1s/x@tcp(db:3306)/toutiao?writeTimeout=3s", PoolOptions{}, DefaultPoolOptions.DialTimeout, DefaultPoolOptions.ReadTimeout, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := mysqlConfig(tc.dsn, "MYSQL_DSN", tc.pool.withDefaults())
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Timeout != tc.dial || cfg.ReadTimeout != tc.read || cfg.WriteTimeout != tc.write {
				t.Errorf("timeout %v, readTimeout %v, writeTimeout %v; want %v, %v, %v",
					cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout, tc.dial, tc.read, tc.write)
			}
		})
	}
}
