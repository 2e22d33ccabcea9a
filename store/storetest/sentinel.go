package storetest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the name the sentinels of StartSentinelSet monitor.
const SentinelMaster = "mymaster"

// SentinelSet is a Redis master, its replica and three Sentinels that
// monitor them (quorum 2), each a process of a test's own on a free loopback
// port, for tests that kill the master and watch a replica take over.
type SentinelSet struct {
	// Master and Replica are the data nodes as started; after a failover
	// the replica is the master (see MasterAddr).
	Master, Replica *RedisServer
	Sentinels       []*Sentinel
}

// Sentinel is one `redis-server <conf> --sentinel` process.
type Sentinel struct {
	Addr    string
	conf    string
	logPath string
	cmd     *exec.Cmd
}

// StartSentinelSet starts a master, a replica of it (--replicaof) and three
// sentinels, each with a sentinel.conf of its own in a temporary directory
// (down-after-milliseconds 1000, failover-timeout 5000, quorum 2), and
// waits until every sentinel sees the master, the replica and the two other
// sentinels, so that a failover can be voted. Everything is stopped by PID
// (SIGKILL) when the test ends. Without redis-server the test is skipped, or
// fails when the tests run on real services.
func StartSentinelSet(t testing.TB) *SentinelSet {
	t.Helper()
	bin := needBinary(t, "redis-server")
	// No diskless-sync delay (5s by default, waiting for more replicas):
	// the replica is in sync at once. A replica that never synced is not
	// promoted.
	s := &SentinelSet{Master: StartRedisServer(t, "--repl-diskless-sync-delay", "0")}
	_, masterPort, _ := net.SplitHostPort(s.Master.Addr)
	s.Replica = StartRedisServer(t, "--replicaof", "127.0.0.1", masterPort)
	s.waitReplicating(t)

	for i := range 3 {
		dir := t.TempDir()
		port := FreePort(t)
		sn := &Sentinel{
			Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			conf:    filepath.Join(dir, "sentinel.conf"),
			logPath: filepath.Join(dir, "sentinel.log"),
		}
		conf := strings.Join([]string{
			"port " + strconv.Itoa(port),
			"bind 127.0.0.1",
			"dir " + dir,
			"logfile " + sn.logPath,
			"sentinel resolve-hostnames no",
			"sentinel monitor " + SentinelMaster + " 127.0.0.1 " + masterPort + " 2",
			"sentinel down-after-milliseconds " + SentinelMaster + " 1000",
			"sentinel failover-timeout " + SentinelMaster + " 5000",
			"sentinel parallel-syncs " + SentinelMaster + " 1",
		}, "\n") + "\n"
		// Sentinel rewrites its file (its id, what it learned), so the file
		// must be writable and its own.
		if err := os.WriteFile(sn.conf, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		sn.cmd = exec.Command(bin, sn.conf, "--sentinel")
		if err := sn.cmd.Start(); err != nil {
			t.Fatalf("start sentinel %d: %v", i, err)
		}
		t.Cleanup(sn.Kill)
		waitDial(t, sn.Addr)
		s.Sentinels = append(s.Sentinels, sn)
	}
	s.waitSeen(t)
	return s
}

// Kill stops the sentinel at once (SIGKILL to its PID).
func (sn *Sentinel) Kill() {
	if sn.cmd != nil && sn.cmd.Process != nil {
		_ = sn.cmd.Process.Kill()
		_ = sn.cmd.Wait()
		sn.cmd = nil
	}
}

// logTail is the end of the sentinel's log, for failure messages.
func (sn *Sentinel) logTail() string {
	b, _ := os.ReadFile(sn.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return fmt.Sprintf("sentinel %s (%s):\n%s", sn.Addr, sn.logPath, b)
}

// Addrs lists the sentinels, for REDIS_SENTINEL_ADDRS.
func (s *SentinelSet) Addrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		out[i] = sn.Addr
	}
	return out
}

// waitReplicating waits until the master reports its replica online, so
// that the sentinels' first INFO of the master lists it.
func (s *SentinelSet) waitReplicating(t testing.TB) {
	t.Helper()
	cl := redis.NewClient(&redis.Options{Addr: s.Master.Addr})
	defer cl.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := cl.Info(context.Background(), "replication").Result()
		if err == nil && strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s not online at master %s after 20s: %v\n%s", s.Replica.Addr, s.Master.Addr, err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSeen waits until every sentinel sees the master as a master, the
// replica connected, and the two other sentinels (found through the
// master's hello channel, every 2s), up to 20s.
func (s *SentinelSet) waitSeen(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for _, sn := range s.Sentinels {
		cl := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr})
		var why string
		for {
			why = ""
			m, err := cl.Master(ctx, SentinelMaster).Result()
			switch {
			case err != nil:
				why = err.Error()
			case m["flags"] != "master":
				why = "master flags " + m["flags"]
			case m["num-slaves"] != "1":
				why = "num-slaves " + m["num-slaves"]
			case m["num-other-sentinels"] != strconv.Itoa(len(s.Sentinels)-1):
				why = "num-other-sentinels " + m["num-other-sentinels"]
			}
			if why == "" {
				rs, err := cl.Replicas(ctx, SentinelMaster).Result()
				switch {
				case err != nil:
					why = err.Error()
				case len(rs) != 1 || net.JoinHostPort(rs[0]["ip"], rs[0]["port"]) != s.Replica.Addr:
					why = fmt.Sprintf("replicas %v", rs)
				case rs[0]["flags"] != "slave" || rs[0]["master-link-status"] != "ok":
					why = fmt.Sprintf("replica flags %s, link %s", rs[0]["flags"], rs[0]["master-link-status"])
				}
			}
			if why == "" {
				break
			}
			if time.Now().After(deadline) {
				_ = cl.Close()
				t.Fatalf("sentinel %s does not see the set after 20s: %s\n%s", sn.Addr, why, sn.logTail())
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = cl.Close()
	}
}

// MasterAddr asks the sentinels, in turn, for the master's address
// (SENTINEL get-master-addr-by-name); the first answer counts.
func (s *SentinelSet) MasterAddr(ctx context.Context) (string, error) {
	var firstErr error
	for _, sn := range s.Sentinels {
		if sn.cmd == nil {
			continue
		}
		cl := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr, DialTimeout: time.Second, ReadTimeout: time.Second})
		addr, err := cl.GetMasterAddrByName(ctx, SentinelMaster).Result()
		_ = cl.Close()
		if err == nil && len(addr) == 2 {
			return net.JoinHostPort(addr[0], addr[1]), nil
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("sentinel %s: %v %v", sn.Addr, addr, err)
		}
	}
	return "", firstErr
}

// WaitFailover polls, up to within, until every running sentinel names a
// master other than old and that node says role:master, and returns its
// address. The test fails on timeout, with the sentinels' logs.
func (s *SentinelSet) WaitFailover(t testing.TB, old string, within time.Duration) string {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(within)
	var last string
	for {
		addr, agreed := s.agreedMaster(ctx)
		if agreed && addr != old && isMaster(ctx, addr) {
			return addr
		}
		last = addr
		if time.Now().After(deadline) {
			var logs []string
			for _, sn := range s.Sentinels {
				logs = append(logs, sn.logTail())
			}
			t.Fatalf("no failover from %s after %v (sentinels say %q, agreed %v)\n%s", old, within, last, agreed, strings.Join(logs, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// agreedMaster returns the master that every running sentinel names, and
// whether they agree.
func (s *SentinelSet) agreedMaster(ctx context.Context) (string, bool) {
	var addr string
	for _, sn := range s.Sentinels {
		if sn.cmd == nil {
			continue
		}
		cl := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr, DialTimeout: time.Second, ReadTimeout: time.Second})
		a, err := cl.GetMasterAddrByName(ctx, SentinelMaster).Result()
		_ = cl.Close()
		if err != nil || len(a) != 2 {
			return addr, false
		}
		got := net.JoinHostPort(a[0], a[1])
		if addr != "" && got != addr {
			return addr, false
		}
		addr = got
	}
	return addr, addr != ""
}

// isMaster reports whether the Redis at addr says role:master.
func isMaster(ctx context.Context, addr string) bool {
	cl := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	defer cl.Close()
	info, err := cl.Info(ctx, "replication").Result()
	return err == nil && strings.Contains(info, "role:master")
}
