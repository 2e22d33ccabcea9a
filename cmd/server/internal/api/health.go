package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/headline/headline/store/rediscache"
	"github.com/headline/headline/store/sqldb"
)

// Readiness is what GET /readyz asks about.
type Readiness struct {
	MySQL    sqlPinger   // the primary (*bun.DB)
	Replicas Replicas    // nil: no read replicas
	Redis    redisPinger // the cache's client
	Breakers Breakers    // the cache's circuit breakers (*rediscache.Cache)
	Local    LocalTier   // nil: no local tier (LOCAL_CACHE_SIZE=0)
}

// LocalTier tells whether the local tier serves (*store.LocalTier): only
// while Redis tracks every master for it.
type LocalTier interface{ Usable() bool }

type sqlPinger interface{ PingContext(context.Context) error }

type redisPinger interface {
	Ping(context.Context) *redis.StatusCmd
}

// Replicas are MySQL's read replicas (*sqldb.Replicas).
type Replicas interface {
	Ping(context.Context) error
	States() []sqldb.ReplicaState
}

// Breakers tells the states of the Redis circuit breakers (*rediscache.Cache).
type Breakers interface {
	BreakerState() string
	APQBreakerState() string
	Breakers() []rediscache.NodeBreaker
}

// handleHealthz says the process is alive; it checks nothing else, so an
// orchestrator does not restart a server whose database is down.
func handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// handleReadyz says whether the server can answer: MySQL must answer; a
// Redis that does not is reported as degraded but still ready, since every
// lookup then falls back to MySQL.
func (e *edge) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	body := map[string]string{"status": "ready", "mysql": "ok", "redis": "ok", "redis_breaker": e.Ready.Breakers.BreakerState()}
	e.breakerDetail(body)
	// Informational: without the tier every lookup reads Redis, as before.
	switch {
	case e.Ready.Local == nil:
		body["local_cache"] = "off"
	case e.Ready.Local.Usable():
		body["local_cache"] = "usable"
	default:
		body["local_cache"] = "not_tracking"
	}
	code := http.StatusOK
	if err := e.Ready.MySQL.PingContext(ctx); err != nil {
		e.Log.WarnContext(ctx, "readyz: mysql ping failed", "err", err)
		body["status"], body["mysql"] = "unavailable", "down"
		code = http.StatusServiceUnavailable
		// With a replica answering, profile reads go on (all but those of
		// users updated within the fresh window); only updates fail.
		if e.Ready.Replicas != nil && e.Ready.Replicas.Ping(ctx) == nil {
			body["status"], code = "degraded", http.StatusOK
		}
	}
	if e.Ready.Replicas != nil {
		// Informational: without replicas the primary takes the reads.
		var states []string
		for _, st := range e.Ready.Replicas.States() {
			if st.Reads {
				states = append(states, st.Name+" reads")
			} else {
				states = append(states, st.Name+" out ("+st.Why+")")
			}
		}
		body["mysql_replicas"] = strings.Join(states, ", ")
	}
	if err := e.Ready.Redis.Ping(ctx).Err(); err != nil {
		e.Log.WarnContext(ctx, "readyz: redis ping failed", "err", err)
		body["redis"] = "down"
		if code == http.StatusOK {
			body["status"] = "degraded"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// breakerDetail adds to a /readyz body the persisted queries' breaker and,
// on a cluster, where redis_breaker is the worst of one breaker per master,
// each master's.
func (e *edge) breakerDetail(body map[string]string) {
	if e.APQ != nil {
		body["apq_breaker"] = e.Ready.Breakers.APQBreakerState()
	}
	var nodes []string
	for _, b := range e.Ready.Breakers.Breakers() {
		if b.Breaker == rediscache.BreakerCache && b.Node != rediscache.AllNodes {
			nodes = append(nodes, b.Node+" "+b.State)
		}
	}
	if len(nodes) > 0 {
		body["redis_breaker_nodes"] = strings.Join(nodes, ", ")
	}
}
