package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/localcache"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/sqldb"
	"github.com/headline/headline/store/storetest"
)

// tierServer is the server as run builds it, with the local tier on at its
// default size, on this package's database and a Redis of the test's own
// (tracking is server-wide: the shared test Redis's other writers would
// evict and flush the tier).
type tierServer struct {
	url   string
	out   *storetest.SyncBuffer
	admin *redis.Client // a plain client: the Flask app's, and INFO
}

func startTierServer(t *testing.T) *tierServer {
	t.Helper()
	dsn := os.Getenv(storetest.MySQLEnv)
	if dsn == "" {
		t.Skip("needs MariaDB: set " + storetest.MySQLEnv)
	}
	storetest.DB(t, "server") // migrated
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = "headline_test_server" + os.Getenv("HEADLINE_TEST_DB_SUFFIX")
	srv := storetest.StartRedisServer(t)
	addr, out, _ := startRun(t, map[string]string{
		"MYSQL_DSN": cfg.FormatDSN(), "REDIS_URL": "redis://" + srv.Addr, "JWT_SECRET": testSecret,
		"LOCAL_CACHE_SIZE": strconv.Itoa(localcache.DefaultMaxBytes),
	}, "external")
	s := &tierServer{url: "http://" + addr, out: out, admin: redis.NewClient(&redis.Options{Addr: srv.Addr})}
	t.Cleanup(func() { _ = s.admin.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := servertest.Get(t, s.url+"/readyz")
		if strings.Contains(body, `"local_cache":"usable"`) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %s 10s after the start, want local_cache usable", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// commands is how many commands Redis has run, but for INFO and the
// tracker's PINGs.
func (s *tierServer) commands(t *testing.T) int64 {
	t.Helper()
	return storetest.RedisCommandCalls(t, s.admin, "ping")
}

// name asks for user id's name.
func (s *tierServer) name(t *testing.T, id int64, headers ...string) string {
	t.Helper()
	r := servertest.Post(t, s.url, fmt.Sprintf(`{ user(id: "%d") { name } }`, id), nil, append([]string{"X-Request-ID", fmt.Sprintf("tier-%d", time.Now().UnixNano())}, headers...)...)
	if u := r.User(t, "user"); u != nil && len(r.Errors) == 0 {
		return u.Name
	}
	return fmt.Sprintf("<%s>", r.Raw)
}

// TestLocalTierThroughRun: with the tier on, as run wires it, a warm
// request makes no Redis command and its log line counts a local hit; the
// metrics show the tier; an outside write shows within 200 ms, and
// updateMe's own instance reads its write at once.
func TestLocalTierThroughRun(t *testing.T) {
	s := startTierServer(t)
	id := storetest.IDs(t, 1)
	base := storetest.DB(t, "server")
	if err := sqldb.InsertUsers(context.Background(), base, headline.User{ID: id, Name: fmt.Sprintf("tier-%d", id)}); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("tier-%d", id)
	for range 3 { // cold, then warm in Redis (the tier fills), then local
		if got := s.name(t, id); got != want {
			t.Fatalf("name %s, want %s", got, want)
		}
		time.Sleep(10 * time.Millisecond) // the fill's invalidation, back
	}
	before := s.commands(t)
	if before == 0 {
		t.Fatal("Redis counts no command, though the cold request read it")
	}
	for range 10 {
		s.name(t, id)
	}
	if n := s.commands(t) - before; n != 0 {
		t.Errorf("10 warm requests made %d Redis commands, want 0", n)
	}
	if !regexp.MustCompile(`msg=request .*cache_hits=0 .*local_hits=1`).MatchString(lastLines(s.out.String(), 1)) {
		t.Errorf("the last request's line does not count a local hit:\n%s", lastLines(s.out.String(), 1))
	}
	m := servertest.ScrapeMetrics(t, s.url)
	if hits := m.Value(t, "headline_local_cache_lookups_total", "result", "hit"); hits < 10 {
		t.Errorf("headline_local_cache_lookups_total{hit} = %v, want ≥ 10", hits)
	}
	if m.Value(t, "headline_local_cache_usable") != 1 || m.Value(t, "headline_local_cache_bytes") <= 0 {
		t.Errorf("usable %v, bytes %v: want 1 and some", m.Value(t, "headline_local_cache_usable"), m.Value(t, "headline_local_cache_bytes"))
	}
	t.Run("an outside SET shows within 200ms", func(t *testing.T) {
		if err := s.admin.Set(context.Background(), rediscache.ProfileKey(id), `{"name": "flask", "photo": null, "intro": null, "certi": null}`, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		set := time.Now()
		for s.name(t, id) != "flask" {
			if time.Since(set) > 200*time.Millisecond {
				t.Fatalf("still %q 200ms after the SET", s.name(t, id))
			}
		}
		t.Logf("answered %v after the SET", time.Since(set))
	})
	t.Run("updateMe reads its own write at once", func(t *testing.T) {
		for range 3 {
			s.name(t, id) // local again
			time.Sleep(10 * time.Millisecond)
		}
		renamed := fmt.Sprintf("renamed-%d", id)
		auth := []string{"Authorization", "Bearer " + servertest.Token(t, servertest.TokenOptions{UserID: id})}
		if r := servertest.Post(t, s.url, servertest.UpdateQuery, map[string]any{"in": map[string]any{"name": renamed}}, auth...); len(r.Errors) > 0 {
			t.Fatalf("updateMe: %s", r.Raw)
		}
		if got := s.name(t, id); got != renamed {
			t.Errorf("right after updateMe: %s, want %s", got, renamed)
		}
	})
}

// TestLocalTierOffWhenEmbedded: miniredis has no CLIENT TRACKING; the
// embedded mode says once that the tier is off, and nothing more of it.
func TestLocalTierOffWhenEmbedded(t *testing.T) {
	_, out, stop := startRun(t, map[string]string{"LOCAL_CACHE_SIZE": strconv.Itoa(localcache.DefaultMaxBytes)}, "embedded")
	time.Sleep(200 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	log := out.String()
	if n := strings.Count(log, "local cache off in the embedded mode"); n != 1 {
		t.Errorf("said %d times that the tier is off, want once:\n%s", n, log)
	}
	if strings.Contains(log, "tracking") && strings.Count(log, "tracking") != strings.Count(log, "CLIENT TRACKING") {
		t.Errorf("the log speaks of tracking:\n%s", log)
	}
}
