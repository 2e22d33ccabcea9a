package storetest

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// RedisInfoInt reads one numeric field of a section of c's INFO.
func RedisInfoInt(t testing.TB, c *redis.Client, section, field string) int {
	t.Helper()
	info, err := c.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatalf("INFO %s: %v", section, err)
	}
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("INFO %s: %q", field, l)
			}
			return n
		}
	}
	t.Fatalf("INFO %s has no %s", section, field)
	return 0
}

// RedisCommandCalls is how many commands Redis has run (the calls of INFO
// commandstats), but for INFO itself and the commands named in skip
// ("ping"). It fails the test on a line it cannot read, and when Redis
// lists no command at all: a count that read nothing would be 0.
func RedisCommandCalls(t testing.TB, c *redis.Client, skip ...string) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	var n int64
	listed := false
	for _, l := range strings.Split(info, "\r\n") {
		k, v, ok := strings.Cut(l, ":")
		name, isCmd := strings.CutPrefix(k, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		listed = true
		if name == "info" || slices.Contains(skip, name) {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
		c, err := strconv.ParseInt(calls, 10, 64)
		if err != nil || !strings.HasPrefix(v, "calls=") {
			t.Fatalf("INFO commandstats: %q", l)
		}
		n += c
	}
	if !listed {
		t.Fatalf("INFO commandstats lists no command: %q", info)
	}
	return n
}
