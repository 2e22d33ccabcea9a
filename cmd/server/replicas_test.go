package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/storetest"
)

// Ids 237xx belong to this file.

// TestRunWithReplicas runs two server instances configured with
// MYSQL_REPLICA_DSNS on a real primary and replica: reads go to the replica,
// and after updateMe on one instance, with the replica's SQL thread stopped,
// the other instance answers the new name and reads it from the primary.
func TestRunWithReplicas(t *testing.T) {
	primary, replica := storetest.StartMariaDBReplicated(t)
	const id = 23701
	primary.Seed(t, headline.User{ID: id, Name: "before"}, headline.User{ID: id + 1, Name: "second"})
	replica.WaitCaughtUp(t, primary)
	sa, sb := runOnReplicas(t, primary, replica)

	selects := func() (p, r int64) {
		return primary.GlobalStatus(t, "Com_select"), replica.GlobalStatus(t, "Com_select")
	}
	p0, r0 := selects()
	if got := sb.Post(t, `{ user(id: "23701") { name } }`, nil).User(t, "user"); got == nil || got.Name != "before" {
		t.Fatalf("cold read: %+v", got)
	}
	if p1, r1 := selects(); p1-p0 != 0 || r1-r0 != 1 {
		t.Fatalf("cold read: %d SELECTs on the primary, %d on the replica; want 0, 1", p1-p0, r1-r0)
	}

	if _, err := replica.Admin.ExecContext(context.Background(), "STOP SLAVE SQL_THREAD"); err != nil {
		t.Fatal(err)
	}
	if res := sa.UpdateMe(t, id, map[string]any{"name": "after"}); len(res.Errors) > 0 {
		t.Fatalf("updateMe: %s", res.Raw)
	}
	p0, r0 = selects()
	res := sb.Post(t, `{ me { name } }`, nil, "Authorization", "Bearer "+servertest.Token(t, servertest.TokenOptions{UserID: id}))
	if got := res.User(t, "me"); got == nil || got.Name != "after" {
		t.Fatalf("me on the other instance after updateMe: %s", res.Raw)
	}
	if p1, r1 := selects(); p1-p0 != 1 || r1-r0 != 0 {
		t.Fatalf("read after the update: %d SELECTs on the primary, %d on the replica; want 1, 0", p1-p0, r1-r0)
	}

	// /readyz names the replica and, the SQL thread being stopped, says it
	// is out.
	readyz := func(want string) int {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, body := servertest.Get(t, sb.URL+"/readyz")
			if strings.Contains(body, want) {
				return resp.StatusCode
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz after 5s: %d %s, want %s", resp.StatusCode, body, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	readyz(replica.Addr + " out (behind)")

	// The primary dies: the replica, caught up and back in rotation, goes
	// on serving reads, so the instance stays ready; updates fail.
	if _, err := replica.Admin.ExecContext(context.Background(), "START SLAVE SQL_THREAD"); err != nil {
		t.Fatal(err)
	}
	replica.WaitCaughtUp(t, primary)
	readyz(replica.Addr + " reads")
	primary.Kill()
	if code := readyz(`"mysql":"down"`); code != http.StatusOK {
		t.Errorf("/readyz with the primary down and the replica up: %d, want 200 (degraded)", code)
	}
	readyz(`"status":"degraded"`)
	r0 = replica.GlobalStatus(t, "Com_select")
	if got := sb.Post(t, `{ user(id: "23702") { name } }`, nil).User(t, "user"); got == nil || got.Name != "second" {
		t.Fatalf("cold read with the primary down: %+v", got)
	}
	if r := replica.GlobalStatus(t, "Com_select") - r0; r != 1 {
		t.Errorf("cold read with the primary down: %d SELECTs on the replica, want 1", r)
	}
	if res := sa.UpdateMe(t, id, map[string]any{"name": "again"}); len(res.Errors) == 0 || res.Errors[0].Extensions["code"] != "INTERNAL_SERVER_ERROR" {
		t.Errorf("updateMe with the primary down: %s, want INTERNAL_SERVER_ERROR", res.Raw)
	}
}

// runOnReplicas runs two servers, as run() does, on primary with replica
// and the package's Redis.
func runOnReplicas(t *testing.T, primary, replica *storetest.MariaDB) (sa, sb *servertest.Server) {
	r := storetest.NewRedis(t, redisDB)
	env := map[string]string{
		"MYSQL_DSN":          primary.DSN,
		"MYSQL_REPLICA_DSNS": replica.DSN,
		"REDIS_URL":          fmt.Sprintf("redis://%s/%d", r.Opt.Addr, r.Opt.DB),
		"JWT_SECRET":         testSecret,
	}
	a, _, _ := startRun(t, env, "external")
	b, _, _ := startRun(t, env, "external")
	return &servertest.Server{URL: "http://" + a}, &servertest.Server{URL: "http://" + b}
}

// TestReplicaLagSetting: MYSQL_REPLICA_MAX_LAG is the lag bound, and 0
// turns the check off (store's zero would be its default, 5s).
func TestReplicaLagSetting(t *testing.T) {
	for _, tc := range []struct {
		env       string
		maxLag    time.Duration
		unchecked bool
	}{
		{"", 5 * time.Second, false},
		{"2s", 2 * time.Second, false},
		{"0", 0, true},
	} {
		t.Run("MYSQL_REPLICA_MAX_LAG="+tc.env, func(t *testing.T) {
			cfg, err := parseConfig(nil, envOf(map[string]string{"MYSQL_REPLICA_MAX_LAG": tc.env}), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			o := replicaOptions(cfg, nil)
			if o.MaxLag != tc.maxLag || o.NoLagCheck != tc.unchecked {
				t.Errorf("MaxLag %v, NoLagCheck %v; want %v, %v", o.MaxLag, o.NoLagCheck, tc.maxLag, tc.unchecked)
			}
		})
	}
}

// TestRunRefusesReplicaSettings checks the settings that cannot work.
func TestRunRefusesReplicaSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"fresh window not past the lag bound", map[string]string{"MYSQL_REPLICA_MAX_LAG": "30s"}, "MYSQL_FRESH_WINDOW must exceed MYSQL_REPLICA_MAX_LAG"},
		{"malformed replica DSN", map[string]string{"MYSQL_REPLICA_DSNS": "u:secret@bad(x"}, "parse MYSQL_REPLICA_DSNS[0]: malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{
				"MYSQL_DSN": "root@tcp(127.0.0.1:1)/x", "MYSQL_REPLICA_DSNS": "root@tcp(127.0.0.1:2)/x",
				"REDIS_URL": "redis://127.0.0.1:1", "JWT_SECRET": testSecret,
			}
			for k, v := range tc.env {
				env[k] = v
			}
			// Were the settings taken, run would serve until the deadline.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			err := run(ctx, []string{"server", "-http-addr", "127.0.0.1:0"}, envOf(env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run: %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("run: %v: the error shows the DSN's password", err)
			}
		})
	}
}
