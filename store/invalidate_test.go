package store_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline"
	"github.com/headline/headline/store"
	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/storetest"
)

// TestInvalidationRetriedAfterRedisAnswersAgain: an update made while Redis
// does not answer (paused, keeping its data) still succeeds, and its stale
// entry is deleted once Redis answers, not left to its TTL.
func TestInvalidationRetriedAfterRedisAnswersAgain(t *testing.T) {
	rs := storetest.StartRedisServer(t)
	e := newProfilesEnv(t, &redis.Options{Addr: rs.Addr}, nil)
	ctx := context.Background()
	id := storetest.IDs(t, 1)
	e.insert(t, headline.User{ID: id, Name: "before"})
	raw := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer raw.Close()
	stale := `{"name": "before", "photo": null, "intro": null, "certi": null}`
	raw.Set(ctx, rediscache.ProfileKey(id), stale, time.Hour)

	// Writes (DEL included) block for 1.5s; the client times out at 100ms.
	if err := raw.Do(ctx, "CLIENT", "PAUSE", "1500", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	name := "after"
	u, err := e.p.Update(ctx, id, headline.ProfileUpdate{Name: headline.Change[*string]{Set: true, Value: &name}})
	if err != nil || u.Name != "after" {
		t.Fatalf("Update = %+v, %v; want it to succeed with Redis paused", u, err)
	}
	if !strings.Contains(e.log.String(), "could not be invalidated") {
		t.Errorf("the failed invalidation was not logged:\n%s", e.log)
	}
	if v, _ := raw.Get(ctx, rediscache.ProfileKey(id)).Result(); v != stale {
		t.Fatalf("entry during the pause = %q, want the stale one still there (else this test proves nothing)", v)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := raw.Exists(ctx, rediscache.ProfileKey(id)).Result()
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stale entry is still there 5s after the update (exists=%d, err=%v)", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCloseStopsTheInvalidationRetry: an update made while Redis does not
// answer leaves a goroutine that retries its invalidation until Redis
// answers; Close ends it (once it outlived its test and panicked the test
// binary by logging after the test's end).
func TestCloseStopsTheInvalidationRetry(t *testing.T) {
	opt := storetest.NewRedis(t, redisDB).Options()
	opt.Addr = storetest.StartUnanswering(t).Addr
	e := newProfilesEnvWith(t, opt, nil, store.ProfilesOptions{InvalidationRetry: 10 * time.Millisecond})
	id := storetest.IDs(t, 1)
	e.insert(t, headline.User{ID: id, Name: fmt.Sprintf("close-%d", id)})
	name := fmt.Sprintf("closed-%d", id)
	if _, err := e.p.Update(context.Background(), id, headline.ProfileUpdate{Name: headline.Change[*string]{Set: true, Value: &name}}); err != nil {
		t.Fatal(err)
	}
	// A goroutine that has not run yet shows in a stack dump under its
	// go statement's wrapper, not under retryInvalidations: wait for it.
	for deadline := time.Now().Add(5 * time.Second); retryGoroutines() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d invalidation retry goroutines run after the update, want 1: the test would prove nothing", retryGoroutines())
		}
	}
	e.p.Close()
	if n := retryGoroutines(); n != 0 {
		t.Errorf("%d invalidation retry goroutines outlived Close, want 0", n)
	}
}

// retryGoroutines counts the goroutines that run Profiles' invalidation
// retry.
func retryGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "store.(*Profiles).retryInvalidations(")
		}
		buf = make([]byte, 2*len(buf))
	}
}
