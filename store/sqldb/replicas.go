package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/uptrace/bun"
)

// Reads from MySQL replicas. Bun routes each query through a ConnResolver;
// Replicas is one that sends plain SELECTs to a replica, round robin, and
// everything else — writes, transactions, and reads whose context asks for
// the primary — to the primary. A replica whose query failed, or that has
// fallen behind, gets no reads for a while; with none left, the primary
// serves them.
//
// A replica that has not yet applied an update must not put the old row back
// into the cache. Two things keep it from doing so. Reads of an id updated in
// the last FreshWindow go to the primary: an update leaves a marker next to
// the invalidated entry, in Redis, so every instance sees it in the lease
// pipeline it sends anyway. And a replica more than MaxLag behind, or one not
// applying the primary's changes at all, is taken out until it catches up,
// so a replica slower than the window cannot serve the row either.

// ReplicaOptions tunes Replicas; zero fields take their values in
// DefaultReplicaOptions.
type ReplicaOptions struct {
	// Retry is how long a replica whose query failed gets no reads before
	// it is tried again.
	Retry time.Duration
	// MaxLag takes a replica out of rotation while it is further behind the
	// primary than this (Seconds_Behind_Master), or while its SQL thread
	// does not run. It must be shorter than the fresh window of Profiles.
	MaxLag time.Duration
	// NoLagCheck turns the lag check off: replicas take reads however far
	// behind they are, while they answer.
	NoLagCheck bool
	// CheckInterval is how often each replica's lag is read.
	CheckInterval time.Duration
	// Log receives a line each time a replica leaves or rejoins rotation.
	// Default: slog.Default().
	Log *slog.Logger
}

// DefaultReplicaOptions are the replicas' defaults.
var DefaultReplicaOptions = ReplicaOptions{
	Retry:         5 * time.Second,
	MaxLag:        5 * time.Second,
	CheckInterval: time.Second,
}

func (o ReplicaOptions) withDefaults() ReplicaOptions {
	d := DefaultReplicaOptions
	o.Retry = positiveOr(o.Retry, d.Retry)
	o.MaxLag = positiveOr(o.MaxLag, d.MaxLag)
	o.CheckInterval = positiveOr(o.CheckInterval, d.CheckInterval)
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// Replicas is a bun.ConnResolver over MySQL read replicas.
type Replicas struct {
	reps []*replica
	next atomic.Uint64
	opts ReplicaOptions
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

type replica struct {
	name      string // host:port, for logs: never the DSN, which may hold a password
	db        *sql.DB
	log       *slog.Logger
	downUntil atomic.Int64 // unix nanoseconds; a failed query sets it
	lagging   atomic.Bool  // the lag check says it is behind
	checkLag  bool         // false once the server refused to say its lag
}

// usable reports whether r takes reads now.
func (r *replica) usable(now time.Time) bool {
	return !r.lagging.Load() && now.UnixNano() >= r.downUntil.Load()
}

// NewReplicas routes reads to dbs, named by names for the logs, and starts
// the lag checks; Close stops them and closes dbs.
func NewReplicas(names []string, dbs []*sql.DB, opts ReplicaOptions) *Replicas {
	opts = opts.withDefaults()
	rs := &Replicas{opts: opts, stop: make(chan struct{})}
	for i, db := range dbs {
		rs.reps = append(rs.reps, &replica{name: names[i], db: db, log: opts.Log, checkLag: !opts.NoLagCheck})
	}
	if !opts.NoLagCheck {
		for _, r := range rs.reps {
			rs.wg.Add(1)
			go rs.watch(r)
		}
	}
	return rs
}

// ResolveConn implements bun.ConnResolver: nil means the primary.
func (rs *Replicas) ResolveConn(ctx context.Context, q bun.Query) bun.IConn {
	if onPrimary(ctx) || !bun.IsReadOnlyQuery(q) {
		return nil
	}
	now := time.Now()
	n := uint64(len(rs.reps))
	start := rs.next.Add(1)
	for i := range n {
		r := rs.reps[(start+i)%n]
		if r.usable(now) {
			if s, ok := ctx.Value(servedKey{}).(*served); ok {
				s.replica = r
			}
			return r.db
		}
	}
	return nil
}

// ReplicaState is what Replicas knows of one replica.
type ReplicaState struct {
	Name string // host:port
	// Reads is false while the replica is out of rotation.
	Reads bool
	// Why it is out: "failed" or "behind".
	Why string
}

// States lists the replicas in the order they were given.
func (rs *Replicas) States() []ReplicaState {
	now := time.Now()
	out := make([]ReplicaState, len(rs.reps))
	for i, r := range rs.reps {
		out[i] = ReplicaState{Name: r.name, Reads: r.usable(now)}
		switch {
		case now.UnixNano() < r.downUntil.Load():
			out[i].Why = "failed"
		case r.lagging.Load():
			out[i].Why = "behind"
		}
	}
	return out
}

// Ping reports whether a replica in rotation answers, so that reads can go
// on while the primary is down.
func (rs *Replicas) Ping(ctx context.Context) error {
	now := time.Now()
	var errs []error
	for _, r := range rs.reps {
		if !r.usable(now) {
			continue
		}
		err := r.db.PingContext(ctx)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("replica %s: %w", r.name, err))
	}
	if len(errs) == 0 {
		return errors.New("no replica in rotation")
	}
	return errors.Join(errs...)
}

// Close stops the lag checks and closes the replicas' pools.
func (rs *Replicas) Close() error {
	rs.once.Do(func() { close(rs.stop) })
	rs.wg.Wait()
	var errs []error
	for _, r := range rs.reps {
		errs = append(errs, r.db.Close())
	}
	return errors.Join(errs...)
}

// fail takes r out of rotation for Retry after a query on it failed.
func (rs *Replicas) fail(r *replica, err error) {
	was := r.downUntil.Swap(time.Now().Add(rs.opts.Retry).UnixNano())
	if was < time.Now().UnixNano() {
		r.log.Warn("mysql replica failed; reads go elsewhere until it is retried",
			"replica", r.name, "retry_in", rs.opts.Retry.String(), "err", err)
	}
}

func (rs *Replicas) watch(r *replica) {
	defer rs.wg.Done()
	t := time.NewTicker(rs.opts.CheckInterval)
	defer t.Stop()
	for r.checkLag {
		select {
		case <-rs.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), rs.opts.CheckInterval)
		lag, running, err := replicaLag(ctx, r.db)
		cancel()
		behind := false
		switch {
		case errors.Is(err, errNotReplica):
			r.log.Warn("mysql replica reports no replication; reads go to it while it answers, and its lag is not checked", "replica", r.name)
			r.checkLag = false
		case isAccessDenied(err):
			r.log.Warn("mysql replica does not tell its lag to this user (grant REPLICA MONITOR / REPLICATION CLIENT); its lag is not checked", "replica", r.name)
			r.checkLag = false
		case err != nil:
			continue // down: the next failed read takes it out
		default:
			behind = !running || lag > rs.opts.MaxLag
		}
		if was := r.lagging.Swap(behind); was != behind {
			if behind {
				r.log.Warn("mysql replica is behind; reads go elsewhere until it catches up",
					"replica", r.name, "sql_thread_running", running, "lag", lag.String(), "max_lag", rs.opts.MaxLag.String())
			} else {
				r.log.Info("mysql replica caught up; it takes reads again", "replica", r.name)
			}
		}
	}
}

var errNotReplica = errors.New("not a replica")

// replicaLag reads how far behind the replica is and whether it applies the
// primary's changes. SHOW REPLICA STATUS is MariaDB ≥ 10.5 and MySQL ≥ 8.0.22;
// older servers know only SHOW SLAVE STATUS. Column names differ likewise.
func replicaLag(ctx context.Context, db *sql.DB) (lag time.Duration, running bool, err error) {
	var row map[string]string
	for _, q := range []string{"SHOW REPLICA STATUS", "SHOW SLAVE STATUS"} {
		row, err = firstRow(ctx, db, q)
		if err == nil || isAccessDenied(err) {
			break
		}
	}
	if err != nil {
		return 0, false, err
	}
	if row == nil {
		return 0, false, errNotReplica
	}
	pick := func(names ...string) string {
		for _, n := range names {
			if v, ok := row[n]; ok {
				return v
			}
		}
		return ""
	}
	running = pick("Slave_SQL_Running", "Replica_SQL_Running") == "Yes"
	secs, perr := strconv.Atoi(pick("Seconds_Behind_Master", "Seconds_Behind_Source"))
	if perr != nil {
		// NULL: the SQL or I/O thread is stopped; its lag is unknown.
		return 0, false, nil
	}
	return time.Duration(secs) * time.Second, running, nil
}

func firstRow(ctx context.Context, db *sql.DB, query string) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	row := make(map[string]string, len(cols))
	for i, c := range cols {
		if vals[i].Valid {
			row[c] = vals[i].String
		}
	}
	return row, nil
}

func isAccessDenied(err error) bool {
	var me *mysql.MySQLError
	// 1227: access denied, you need (at least one of) the … privilege(s).
	return errors.As(err, &me) && (me.Number == 1227 || me.Number == 1142)
}

// primaryKey marks a context whose reads must see the primary's latest
// writes.
type primaryKey struct{}

// OnPrimary returns ctx with every query on it sent to the primary.
func OnPrimary(ctx context.Context) context.Context {
	return context.WithValue(ctx, primaryKey{}, true)
}

func onPrimary(ctx context.Context) bool {
	v, _ := ctx.Value(primaryKey{}).(bool)
	return v
}

// served records which replica, if any, a query went to, so that a failed
// read can take that replica out and go to the primary.
type served struct{ replica *replica }

type servedKey struct{}

// Read runs read on a replica when one takes reads and ctx does not ask
// for the primary; if the replica fails, it is taken out and read runs
// again on the primary, so that a replica never fails a request. On a nil
// Replicas (no replicas) it runs read on ctx.
func (rs *Replicas) Read(ctx context.Context, read func(context.Context) error) error {
	if rs == nil || onPrimary(ctx) {
		return read(ctx)
	}
	s := &served{}
	err := read(context.WithValue(ctx, servedKey{}, s))
	if err == nil || s.replica == nil || ctx.Err() != nil {
		return err
	}
	rs.fail(s.replica, err)
	return read(OnPrimary(ctx))
}

// OpenMySQLWithReplicas opens the primary at dsn with reads routed to the
// replicas at replicaDSNs (each pool bounded by pool). With no replicas it is
// OpenMySQL. The Replicas are closed with the returned DB.
func OpenMySQLWithReplicas(dsn string, replicaDSNs []string, pool PoolOptions, opts ReplicaOptions) (*bun.DB, *Replicas, error) {
	if len(replicaDSNs) == 0 {
		db, err := OpenMySQL(dsn, pool)
		return db, nil, err
	}
	primary, _, err := openMySQLPool(dsn, "MYSQL_DSN", pool)
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, len(replicaDSNs))
	dbs := make([]*sql.DB, len(replicaDSNs))
	for i, d := range replicaDSNs {
		db, addr, err := openMySQLPool(d, fmt.Sprintf("MYSQL_REPLICA_DSNS[%d]", i), pool)
		if err != nil {
			for _, o := range dbs[:i] {
				_ = o.Close()
			}
			_ = primary.Close()
			return nil, nil, err
		}
		names[i], dbs[i] = addr, db
	}
	rs := NewReplicas(names, dbs, opts)
	return bun.NewDB(primary, newMySQLDialect(), bun.WithConnResolver(rs)), rs, nil
}

// SplitDSNs splits a space-separated list of DSNs, as MYSQL_REPLICA_DSNS
// holds them (a go-sql-driver DSN has no spaces).
func SplitDSNs(s string) []string {
	return strings.Fields(s)
}
