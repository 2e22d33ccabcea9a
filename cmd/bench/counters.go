package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// counters reads the server-side figures around one run: Redis's command
// stats, MariaDB's statement counters and the CPU time of the processes.
// Redis and MariaDB counters are global, so traffic of anyone else on the
// same services counts too; bench waits for running tests first.
type counters struct {
	rdb      *redis.Client
	my       *sql.Conn // one connection: each snapshot costs it one statement
	mysqlPID int       // 0 when not found
	redisPID int
}

type snapshot struct {
	at                 time.Time
	srv                map[int]int64
	mysql, redis, self int64
	busy               int64
	questions, selects int64
}

// measure is one run of one scenario against one server.
type measure struct {
	loadResult
	redisCmds          map[string]int64 // calls per command, ours left out
	redisReads         int64            // read events Redis processed: ≈ round trips
	hits, misses       int64
	questions, selects int64
	srvTicks           int64 // server process(es)
	mysqlTicks         int64
	redisTicks         int64
	selfTicks          int64 // this process: the load generator
	busyTicks          int64 // the whole machine
	wall               time.Duration
	tests              bool       // a test binary ran at the start or the end
	local              localDelta // headline's local tier
}

func (c *counters) mysqlStatus(ctx context.Context) (questions, selects int64, err error) {
	rows, err := c.my.QueryContext(ctx, "SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Com_select')")
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var v int64
		if err := rows.Scan(&k, &v); err != nil {
			return 0, 0, err
		}
		switch strings.ToLower(k) {
		case "questions":
			questions = v
		case "com_select":
			selects = v
		}
	}
	return questions, selects, rows.Err()
}

func selfTicks() int64 {
	s, err := readProcStat(os.Getpid())
	if err != nil {
		return 0
	}
	return s.utime + s.stime
}

func (c *counters) ticks(pid int) int64 {
	if pid == 0 {
		return 0
	}
	return cpuTicks([]int{pid})[pid]
}

// begin resets Redis's stats and takes the first snapshot.
func (c *counters) begin(ctx context.Context, srv *process) (snapshot, error) {
	if err := c.rdb.ConfigResetStat(ctx).Err(); err != nil {
		return snapshot{}, fmt.Errorf("redis CONFIG RESETSTAT: %w", err)
	}
	q, s, err := c.mysqlStatus(ctx)
	if err != nil {
		return snapshot{}, err
	}
	return snapshot{
		at: time.Now(), srv: cpuTicks(srv.pids()),
		mysql: c.ticks(c.mysqlPID), redis: c.ticks(c.redisPID), self: selfTicks(), busy: busyTicks(),
		questions: q, selects: s,
	}, nil
}

// end takes the second snapshot and returns the differences.
func (c *counters) end(ctx context.Context, srv *process, b snapshot, l loadResult) (measure, error) {
	m := measure{loadResult: l}
	m.wall = time.Since(b.at)
	m.srvTicks = tickDelta(b.srv, cpuTicks(srv.pids()))
	m.mysqlTicks = c.ticks(c.mysqlPID) - b.mysql
	m.redisTicks = c.ticks(c.redisPID) - b.redis
	m.selfTicks = selfTicks() - b.self
	m.busyTicks = busyTicks() - b.busy
	q, s, err := c.mysqlStatus(ctx)
	if err != nil {
		return m, err
	}
	m.questions = q - b.questions - 1 // the second snapshot's own statement
	m.selects = s - b.selects
	info, err := c.rdb.Info(ctx, "stats", "commandstats").Result()
	if err != nil {
		return m, fmt.Errorf("redis INFO: %w", err)
	}
	kv := parseInfo(info)
	m.redisCmds = commandCalls(kv)
	m.redisReads = atoi(kv["total_reads_processed"]) - 1 // the INFO itself
	m.hits, m.misses = atoi(kv["keyspace_hits"]), atoi(kv["keyspace_misses"])
	return m, nil
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n
}

// parseInfo reads the "key:value" lines of a Redis INFO answer.
func parseInfo(info string) map[string]string {
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			kv[k] = v
		}
	}
	return kv
}

// commandCalls reads cmdstat_<name>:calls=N,… entries, leaving out the
// commands bench itself sends around a run (CONFIG RESETSTAT, INFO).
func commandCalls(kv map[string]string) map[string]int64 {
	calls := map[string]int64{}
	for k, v := range kv {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok || name == "info" || strings.HasPrefix(name, "config") {
			continue
		}
		for _, f := range strings.Split(v, ",") {
			if n, ok := strings.CutPrefix(f, "calls="); ok {
				calls[name] = atoi(n)
			}
		}
	}
	return calls
}

func (m measure) perReq(n int64) float64 {
	if m.requests == 0 {
		return 0
	}
	return float64(n) / float64(m.requests)
}

func (m measure) redisTotal() int64 {
	var t int64
	for _, n := range m.redisCmds {
		t += n
	}
	return t
}

// cmdBreakdown is e.g. "mget 1.00, set 20.00".
func (m measure) cmdBreakdown() string {
	names := make([]string, 0, len(m.redisCmds))
	for n := range m.redisCmds {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if d := m.redisCmds[b] - m.redisCmds[a]; d != 0 {
			if d > 0 {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, len(names))
	for _, n := range names {
		if r := m.perReq(m.redisCmds[n]); r >= 0.005 {
			parts = append(parts, fmt.Sprintf("%s %.2f", n, r))
		}
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}

// msPerReq converts clock ticks to CPU milliseconds per request.
func (m measure) msPerReq(ticks int64) float64 {
	return m.perReq(ticks) * 1000 / clockTicks
}

// otherCPU is the share of all cores (in %) used by processes outside the
// measured stack and the load generator: the noise of a shared machine.
func (m measure) otherCPU(ncpu int) float64 {
	avail := m.wall.Seconds() * clockTicks * float64(ncpu)
	if avail <= 0 {
		return 0
	}
	o := float64(m.busyTicks-m.srvTicks-m.mysqlTicks-m.redisTicks-m.selfTicks) / avail * 100
	return max(o, 0)
}

func (m measure) hitRate() float64 {
	if m.hits+m.misses == 0 {
		return 0
	}
	return 100 * float64(m.hits) / float64(m.hits+m.misses)
}
