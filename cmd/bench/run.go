package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline/store/rediscache"
)

type options struct {
	flaskDir    string
	flaskSet    bool // -flask-dir given: a missing folder is then an error
	duration    time.Duration
	concurrency []int
	mysqlDSN    string
	redisAddr   string
	users       int
	only        map[string]bool
	testWait    time.Duration
	localWarmup bool
	path        string // PATH for the commands bench runs
}

func parseFlags(args []string, out io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.flaskDir, "flask-dir", "", "the flask_seed folder (default ../shared/peers/flask_seed from the repository root); empty or absent: headline alone")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each run")
	conc := fs.String("concurrency", "1,32", "comma-separated concurrencies (requests in flight)")
	fs.StringVar(&o.mysqlDSN, "mysql-dsn", "root@tcp(127.0.0.1:3306)/", "go-sql-driver DSN of a MariaDB account that may create the toutiao database")
	fs.StringVar(&o.redisAddr, "redis-addr", "127.0.0.1:6379", "Redis host:port (logical DB 0 is used, and flushed for the cold runs)")
	fs.IntVar(&o.users, "users", 100000, "users to seed (ids 1…users)")
	only := fs.String("only", "", "comma-separated scenario keys to run (default all: "+strings.Join(scenarioKeys(), ",")+")")
	fs.DurationVar(&o.testWait, "test-wait", 5*time.Minute, "before each scenario, wait at most this long for running Go test binaries to finish")
	fs.BoolVar(&o.localWarmup, "local-warmup", true, "ask headline for every profile before each warm run (when it has a local tier) and once at the end, for the memory figures; false: the tier fills during the runs")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	fs.Visit(func(f *flag.Flag) { o.flaskSet = o.flaskSet || f.Name == "flask-dir" })
	var err error
	if o.concurrency, err = parseConcurrency(*conc); err != nil {
		return nil, err
	}
	if o.users < feedSize || o.duration <= 0 {
		return nil, errors.New("-users must be at least 20 and -duration positive")
	}
	if *only != "" {
		o.only = map[string]bool{}
		for _, k := range strings.Split(*only, ",") {
			k = strings.TrimSpace(k)
			if !strings.Contains(","+strings.Join(scenarioKeys(), ",")+",", ","+k+",") {
				return nil, fmt.Errorf("-only: no scenario %q (have %s)", k, strings.Join(scenarioKeys(), ","))
			}
			o.only[k] = true
		}
	}
	return o, nil
}

func parseConcurrency(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-concurrency: want positive whole numbers, got %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// bench is one benchmark session.
type bench struct {
	o        *options
	out      io.Writer
	db       *sql.DB
	rdb      *redis.Client
	cnt      *counters
	servers  []*process // headline first; Flask if present
	token    string
	warm     bool // every profile is in Redis
	pairs    int  // A/B pairs run so far: even ones start with headline
	results  map[runKey]measure
	mget     map[int]float64 // redis-benchmark MGET req/s per concurrency
	mgetNote string
	notes    []string
	machine  string   // CPUs, kernel, versions
	hlEnv    []string // localEnv's settings (LOCAL_CACHE_*, GOGC, GOMEMLIMIT) passed on to headline
	// localBound is LOCAL_CACHE_SIZE as headline was started with it: -1
	// when it could not be read, 0 when the tier is off. tier is whether
	// headline has a local tier.
	localBound int64
	tier       bool
	mem        []memPoint
	// startHL starts another headline, logging into dir, with env added.
	startHL func(ctx context.Context, dir string, env []string) (*process, error)
	tmp     string
}

type runKey struct {
	scenario string
	conc     int
	server   string
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	o, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	o.path = getenv("PATH")
	begin := time.Now()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	b := &bench{o: o, out: stdout, results: map[runKey]measure{}, mget: map[int]float64{}}
	if err := b.findFlask(root); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "headline-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	if err := b.services(ctx); err != nil {
		return err
	}
	defer b.db.Close()
	defer b.rdb.Close()
	if err := b.packages(ctx); err != nil {
		return err
	}

	fmt.Fprintln(stdout, "building headline …")
	bin, err := buildHeadline(ctx, root, tmp)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := seed(ctx, o.mysqlDSN, o.flaskDir, bin, o.path, o.users); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d users into %s.user_basic in %.1fs\n", o.users, benchDB, time.Since(t0).Seconds())

	b.localSettings(getenv)
	b.startHL = func(ctx context.Context, dir string, env []string) (*process, error) {
		return startHeadline(ctx, bin, dir, o.path, o.mysqlDSN, o.redisAddr, env)
	}
	b.tmp = tmp
	hl, err := b.startHL(ctx, tmp, b.hlEnv)
	if err != nil {
		return err
	}
	defer hl.stop()
	b.servers = append(b.servers, hl)
	if o.flaskDir != "" {
		_, dsnCfg, err := dsnWith(o.mysqlDSN, benchDB, false)
		if err != nil {
			return err
		}
		fl, err := startFlask(ctx, o.flaskDir, tmp, dsnCfg, o.redisAddr)
		if err != nil {
			return err
		}
		defer fl.stop()
		b.servers = append(b.servers, fl)
	}
	if b.token, err = mintToken(1); err != nil {
		return err
	}
	if err := b.all(ctx); err != nil {
		return err
	}
	b.report(stdout)
	fmt.Fprintf(stdout, "\ntotal wall time %s\n", time.Since(begin).Round(time.Second))
	return nil
}

// findFlask settles o.flaskDir: -flask-dir's folder, which must hold the
// app, or ../shared/peers/flask_seed from the repository root if it does.
func (b *bench) findFlask(root string) error {
	o := b.o
	if !o.flaskSet {
		o.flaskDir = filepath.Clean(filepath.Join(root, "..", "shared", "peers", "flask_seed"))
		if _, err := os.Stat(filepath.Join(o.flaskDir, "app.py")); err != nil {
			b.note("no Flask app at %s: headline's figures alone", o.flaskDir)
			o.flaskDir = ""
		}
		return nil
	}
	if o.flaskDir == "" {
		return nil
	}
	var err error
	if o.flaskDir, err = filepath.Abs(o.flaskDir); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(o.flaskDir, "app.py")); err != nil {
		return fmt.Errorf("-flask-dir %s: no app.py there", o.flaskDir)
	}
	return nil
}

// packages installs what the Flask app and redis-benchmark need, when
// they are missing.
func (b *bench) packages(ctx context.Context) error {
	if b.o.flaskDir != "" && flaskDepsMissing(ctx) {
		if err := aptInstall(ctx, b.out, flaskPackages...); err != nil {
			return fmt.Errorf("the Flask app's packages: %w", err)
		}
	}
	if _, err := exec.LookPath("redis-benchmark"); err != nil {
		if err := aptInstall(ctx, b.out, "redis-tools"); err != nil {
			b.mgetNote = "redis-benchmark not run: " + err.Error()
		}
	}
	return nil
}

func (b *bench) note(format string, args ...any) {
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}

// services connects to MariaDB and Redis, starting them with the Flask
// folder's start_services.sh when they do not answer and it is there.
func (b *bench) services(ctx context.Context) error {
	dsn, cfg, err := dsnWith(b.o.mysqlDSN, "", false)
	if err != nil {
		return err
	}
	if b.db, err = sql.Open("mysql", dsn); err != nil {
		return err
	}
	b.rdb = redis.NewClient(&redis.Options{Addr: b.o.redisAddr, DB: 0, MaxRetries: -1})
	up := func() error {
		if err := b.db.PingContext(ctx); err != nil {
			return fmt.Errorf("MariaDB at %s: %w", cfg.Addr, err)
		}
		if err := b.rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("Redis at %s: %w", b.o.redisAddr, err)
		}
		return nil
	}
	if err := up(); err != nil {
		script := filepath.Join(b.o.flaskDir, "start_services.sh")
		if _, serr := os.Stat(script); b.o.flaskDir == "" || serr != nil {
			return err
		}
		fmt.Fprintf(b.out, "%v; starting them with %s\n", err, script)
		if _, err := cmdOutput(ctx, nil, b.o.flaskDir, script); err != nil {
			return err
		}
		if err := up(); err != nil {
			return err
		}
	}
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return err
	}
	b.cnt = &counters{rdb: b.rdb, my: conn}
	if _, p, err := net.SplitHostPort(cfg.Addr); err == nil {
		port, _ := strconv.Atoi(p)
		b.cnt.mysqlPID = listenerPID(port)
	}
	if _, p, err := net.SplitHostPort(b.o.redisAddr); err == nil {
		port, _ := strconv.Atoi(p)
		b.cnt.redisPID = listenerPID(port)
	}
	if b.cnt.mysqlPID == 0 || b.cnt.redisPID == 0 {
		b.note("MariaDB or Redis does not run on this machine (or its process was not found): its CPU is not counted")
	}
	return nil
}

// scenario is one row of the table: the same kind of request to both
// servers.
type scenario struct {
	key, title  string
	kind        kind
	keepAlive   bool
	ids         func(users int) idSource // a new source per run
	flaskStatus int
	prep        func(ctx context.Context, b *bench, srv *process) error // before each run
	mget        bool                                                    // also run redis-benchmark's MGET after the pair
	cold        bool                                                    // every lookup misses Redis
	// local lists the ids headline is asked for before its run, so that
	// its local tier holds what the run reads (nil: nothing).
	local func(users int) []int
}

func random(users int) idSource { return randomIDs{1, users} }

func allUsers(users int) []int { return idRange(1, users) }

// hotIDs are the hot-key scenario's 20 authors: users/20, 2·users/20, …,
// users, the same in every request of every run.
func hotIDs(users int) []int {
	ids := make([]int, feedSize)
	for i := range ids {
		ids[i] = (i + 1) * (users / feedSize)
	}
	return ids
}

var scenarios = []scenario{
	{key: "user", title: "warm user(id) [/v1_0/users/<id>]", kind: kindUser, keepAlive: true, ids: random, prep: prepWarm, local: allUsers},
	{key: "user-close", title: "warm user(id), Connection: close", kind: kindUser, ids: random, prep: prepWarm, local: allUsers},
	{key: "me", title: "me, token [/v1_0/user]", kind: kindMe, keepAlive: true, ids: random, prep: prepMe},
	{key: "feed", title: "warm feed, users(ids:) 20 [/v1_0/authors]", kind: kindFeed, keepAlive: true, ids: random, prep: prepWarm, mget: true, local: allUsers},
	{key: "feed-close", title: "warm feed, Connection: close", kind: kindFeed, ids: random, prep: prepWarm, local: allUsers},
	{key: "hot", title: "hot keys: users(ids:) of the same 20 [/v1_0/authors]", kind: kindFeed, keepAlive: true,
		ids: func(users int) idSource { return fixedIDs(hotIDs(users)) }, prep: prepWarm, local: hotIDs},
	{key: "feed-cold", title: "cold feed, users(ids:) 20, FLUSHDB first", kind: kindFeed, keepAlive: true, cold: true,
		ids: func(users int) idSource { return newFreshIDs(1, users) }, prep: prepCold},
	{key: "unknown", title: "unknown ids, negative cache", kind: kindUser, keepAlive: true, flaskStatus: http.StatusNotFound,
		ids: func(users int) idSource { return randomIDs{users + 1, users + unknownIDs} }, prep: prepUnknown,
		local: func(users int) []int { return idRange(users+1, users+unknownIDs) }},
	{key: "aliases", title: "warm feed, 20 aliased user(id) [Flask: /v1_0/authors]", kind: kindAliases, keepAlive: true, ids: random, prep: prepWarm, local: allUsers},
}

func scenarioKeys() []string {
	k := make([]string, len(scenarios))
	for i, s := range scenarios {
		k[i] = s.key
	}
	return k
}

func prepWarm(ctx context.Context, b *bench, _ *process) error {
	if b.warm {
		return nil
	}
	t := time.Now()
	n, err := warmAll(ctx, b.db, b.rdb)
	if err != nil {
		return fmt.Errorf("warm the cache: %w", err)
	}
	fmt.Fprintf(b.out, "  (cache warmed: %d profiles in %.1fs)\n", n, time.Since(t).Seconds())
	b.warm = true
	return nil
}

// prepMe warms the cache and asks the server for me once, so that its
// user:1:status entry (headline) is in Redis too.
func prepMe(ctx context.Context, b *bench, srv *process) error {
	if err := prepWarm(ctx, b, srv); err != nil {
		return err
	}
	return once(ctx, srv, kindMe, b.token)
}

func prepCold(ctx context.Context, b *bench, _ *process) error {
	b.warm = false
	return b.rdb.FlushDB(ctx).Err()
}

func prepUnknown(ctx context.Context, b *bench, _ *process) error {
	return fillMissing(ctx, b.rdb, b.o.users+1, b.o.users+unknownIDs)
}

// all runs every scenario at every concurrency against every server,
// alternating which server goes first.
func (b *bench) all(ctx context.Context) error {
	ncpu := runtime.NumCPU()
	b.machine = b.describe(ctx)
	fmt.Fprintf(b.out, "%s\n%s per run; concurrency %v; servers: %s\n", b.machine, b.o.duration, b.o.concurrency, b.serverNames())
	b.waitTests(ctx)
	b.memory(ctx, b.servers[0], memMain, "after start")
	b.tier = b.mem[0].tier.present
	if err := prepWarm(ctx, b, nil); err != nil {
		return err
	}
	for _, srv := range b.servers { // warm-up, not recorded
		attack(ctx, targeter(srv, kindUser, random(b.o.users), b.token), 8, time.Second, true, answerOK(srv, http.StatusOK))
	}
	for _, sc := range scenarios {
		if b.o.only != nil && !b.o.only[sc.key] {
			continue
		}
		b.waitTests(ctx)
		b.waitIdle(ctx)
		for _, c := range b.o.concurrency {
			order := b.servers
			if b.pairs%2 == 1 && len(order) == 2 {
				order = []*process{order[1], order[0]}
			}
			b.pairs++
			for _, srv := range order {
				if err := ctx.Err(); err != nil {
					return err
				}
				m, err := b.one(ctx, sc, c, srv)
				if err != nil {
					return fmt.Errorf("%s c=%d %s: %w", sc.key, c, srv.name, err)
				}
				b.results[runKey{sc.key, c, srv.name}] = m
				fmt.Fprintf(b.out, "%-10s c=%-3d %-8s %8.0f req/s  server CPU %.3f ms/req  p50 %6.2f ms  p99 %7.2f ms  errors %d  redis %5.2f/req  SELECT %5.2f/req  local hit %s  other CPU %2.0f%%\n",
					sc.key, c, srv.name, m.rps(), m.msPerReq(m.srvTicks), ms(m.p50), ms(m.p99), m.errors, m.perReq(m.redisTotal()),
					m.perReq(m.selects), m.local.hitPct(), m.otherCPU(ncpu))
				for _, e := range m.errSample {
					fmt.Fprintf(b.out, "    error: %s\n", e)
				}
			}
			if sc.mget {
				b.redisBenchmark(ctx, c)
			}
		}
	}
	b.memory(ctx, b.servers[0], memMain, "after the scenarios")
	if !b.o.localWarmup {
		return nil
	}
	return b.allLocal(ctx)
}

// describe names the machine and the software measured.
func (b *bench) describe(ctx context.Context) string {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	var mariadb string
	_ = b.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&mariadb)
	info, _ := b.rdb.Info(ctx, "server").Result()
	s := fmt.Sprintf("%d CPUs, Linux %s, %s, MariaDB %s, Redis %s", runtime.NumCPU(), strings.TrimSpace(string(kernel)),
		runtime.Version(), mariadb, parseInfo(info)["redis_version"])
	if b.hasFlask() {
		if out, err := cmdOutput(ctx, nil, "", "/usr/bin/gunicorn", "--version"); err == nil {
			s += ", " + strings.TrimSpace(string(out)) + " (4 sync workers)"
		}
	}
	return s + "; load generator: vegeta (library), in this process"
}

func (b *bench) serverNames() string {
	var n []string
	for _, s := range b.servers {
		n = append(n, s.name+" "+s.base)
	}
	return strings.Join(n, ", ")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// one prepares and measures one run.
func (b *bench) one(ctx context.Context, sc scenario, c int, srv *process) (measure, error) {
	if err := sc.prep(ctx, b, srv); err != nil {
		return measure{}, err
	}
	if err := b.fillLocal(ctx, sc, srv); err != nil {
		return measure{}, err
	}
	if !sc.keepAlive || srv.name == "Flask" {
		b.waitTimeWait(ctx)
	}
	tests := len(runningTests()) > 0
	flaskStatus := sc.flaskStatus
	if flaskStatus == 0 {
		flaskStatus = http.StatusOK
	}
	// /metrics is read outside the counted span: its CPU and its Go
	// collector's work are not a request's.
	tier := scrapeLocal(ctx, srv)
	snap, err := b.cnt.begin(ctx, srv)
	if err != nil {
		return measure{}, err
	}
	l := attack(ctx, targeter(srv, sc.kind, sc.ids(b.o.users), b.token), c, b.o.duration, sc.keepAlive, answerOK(srv, flaskStatus))
	m, err := b.cnt.end(ctx, srv, snap, l)
	m.tests = tests || len(runningTests()) > 0
	m.local = localBetween(tier, scrapeLocal(ctx, srv))
	return m, err
}

// waitTests waits, polling every 10 s, until no Go test binary runs on the
// machine: others run timing-sensitive tests on it.
func (b *bench) waitTests(ctx context.Context) {
	deadline := time.Now().Add(b.o.testWait)
	said := false
	for {
		t := runningTests()
		if len(t) == 0 {
			return
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(b.out, "  test binaries still running after %s; going on:\n    %s\n", b.o.testWait, strings.Join(t, "\n    "))
			return
		}
		if !said {
			fmt.Fprintf(b.out, "  waiting for %d running test binaries to finish (at most %s) …\n", len(t), b.o.testWait)
			said = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Second):
		}
	}
}

// waitIdle waits, at most 20 s, until the machine is at least 80 % idle
// over a second: what else runs on a shared machine skews every figure.
func (b *bench) waitIdle(ctx context.Context) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		b0, t0 := machineTicks()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		b1, t1 := machineTicks()
		idle := 100.0
		if t1 > t0 {
			idle = 100 * (1 - float64(b1-b0)/float64(t1-t0))
		}
		if idle >= 80 {
			return
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(b.out, "  the machine is only %.0f%% idle; going on\n", idle)
			return
		}
	}
}

// waitTimeWait lets TIME_WAIT sockets drain (at most 30 s) before a run
// that opens a connection per request, so it does not run out of ports.
func (b *bench) waitTimeWait(ctx context.Context) {
	deadline := time.Now().Add(30 * time.Second)
	for timeWaitSockets() > 12000 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// redisBenchmark runs redis-benchmark's MGET of feedSize warm keys at
// concurrency c: the one round trip headline's warm feed cannot beat.
func (b *bench) redisBenchmark(ctx context.Context, c int) {
	if b.mgetNote != "" {
		return
	}
	host, port, err := net.SplitHostPort(b.o.redisAddr)
	if err != nil {
		b.mgetNote = err.Error()
		return
	}
	n := 20000 * min(c, 5) // a few seconds at either end
	args := []string{"-h", host, "-p", port, "-n", strconv.Itoa(n), "-c", strconv.Itoa(c), "--csv", "MGET"}
	for _, id := range randomIDsN(b.o.users, feedSize) {
		args = append(args, rediscache.ProfileKey(int64(id)))
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, err := cmdOutput(rctx, nil, "", "redis-benchmark", args...)
	if err != nil {
		b.mgetNote = "redis-benchmark failed: " + err.Error()
		return
	}
	rps, err := parseRedisBenchmarkCSV(out)
	if err != nil {
		b.mgetNote = err.Error()
		return
	}
	b.mget[c] = rps
	fmt.Fprintf(b.out, "%-10s c=%-3d %-8s %8.0f req/s (redis-benchmark -n %d, MGET of %d warm keys)\n", "mget", c, "redis", rps, n, feedSize)
}

func randomIDsN(users, n int) []int {
	ids, _ := randomIDs{1, users}.take(n)
	return ids
}

// parseRedisBenchmarkCSV reads the rps of redis-benchmark --csv's one test.
func parseRedisBenchmarkCSV(out []byte) (float64, error) {
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) < 2 || f[0] == `"test"` {
			continue
		}
		if rps, err := strconv.ParseFloat(strings.Trim(f[1], `"`), 64); err == nil {
			return rps, nil
		}
	}
	return 0, fmt.Errorf("redis-benchmark: no rps in %q", tail(out, 300))
}
