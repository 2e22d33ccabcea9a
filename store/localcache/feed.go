package localcache

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// invalidateChannel is where Redis publishes the invalidations of a RESP2
// connection that tracking is redirected to.
const invalidateChannel = "__redis__:invalidate"

const (
	minBackoff = 50 * time.Millisecond
	// maxBackoff keeps a Redis that comes back tracked within about a
	// second of answering.
	maxBackoff = time.Second
)

// feed is the tracking connection of one master.
type feed struct {
	t      *Tracker
	addr   string
	client *redis.Client
	ctx    context.Context
	cancel context.CancelFunc

	mu sync.Mutex
	ps *redis.PubSub // the current session's, for stop

	dialed atomic.Bool // the current session has dialed its connection

	// guarded by t.mu: whether tracking is on over the current
	// connection, and whether a failure was logged since it last was.
	up, warned bool
}

func newFeed(t *Tracker, addr string) *feed {
	f := &feed{t: t, addr: addr}
	f.ctx, f.cancel = context.WithCancel(t.ctx)
	opt := nodeOptions(t.opt.Redis, addr)
	// RESP2: a RESP3 connection gets its invalidations as push messages,
	// which go-redis's PubSub does not hand over.
	opt.Protocol = 2
	opt.OnConnect = trackOn
	dial := opt.Dialer
	if dial == nil {
		dial = redis.NewDialer(opt)
	}
	opt.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if f.dialed.Swap(true) {
			// go-redis redials within the receive that saw the
			// connection fail, before returning the failure: refused, so
			// that the tier is stopped without waiting for a dial.
			return nil, errRedial
		}
		return dial(ctx, network, addr)
	}
	f.client = redis.NewClient(opt)
	return f
}

var errRedial = errors.New("localcache: one connection per session; the session reconnects")

// trackOn is the handshake of every tracking connection, run by go-redis
// before the connection subscribes: on a master only, tracking in
// broadcast mode for Prefix, redirected to this very connection.
func trackOn(ctx context.Context, cn *redis.Conn) error {
	role, err := cn.Do(ctx, "ROLE").Slice()
	if err != nil {
		return fmt.Errorf("ROLE: %w", err)
	}
	if len(role) == 0 || role[0] != "master" {
		// A demoted master or a replica not promoted yet: its
		// invalidations would lag the writes the tier is read against.
		return fmt.Errorf("not a master: ROLE says %v", role)
	}
	id, err := cn.ClientID(ctx).Result()
	if err != nil {
		return fmt.Errorf("CLIENT ID: %w", err)
	}
	err = cn.Do(ctx, "CLIENT", "TRACKING", "ON", "REDIRECT", strconv.FormatInt(id, 10), "BCAST", "PREFIX", Prefix).Err()
	if err != nil {
		return fmt.Errorf("CLIENT TRACKING: %w", err)
	}
	return nil
}

// nodeOptions are the options of a connection of the tracker's own to a
// data node: the server's credentials, TLS and timeouts, no retries (the
// tracker retries), one connection.
func nodeOptions(o *redis.UniversalOptions, addr string) *redis.Options {
	return &redis.Options{
		Addr:                         addr,
		Dialer:                       o.Dialer,
		Username:                     o.Username,
		Password:                     o.Password,
		CredentialsProvider:          o.CredentialsProvider,
		CredentialsProviderContext:   o.CredentialsProviderContext,
		StreamingCredentialsProvider: o.StreamingCredentialsProvider,
		TLSConfig:                    o.TLSConfig,
		DialTimeout:                  cmp.Or(o.DialTimeout, 5*time.Second), // go-redis's default; its dialer is wrapped
		ReadTimeout:                  o.ReadTimeout,
		WriteTimeout:                 o.WriteTimeout,
		ClientName:                   "headline-localcache",
		MaxRetries:                   -1,
		DialerRetries:                1,
		PoolSize:                     1,
	}
}

// stop ends the feed: its goroutine returns and closes the client.
func (f *feed) stop() {
	f.cancel()
	f.mu.Lock()
	if f.ps != nil {
		// Unblocks a Receive: go-redis does not watch the context while
		// it reads.
		_ = f.ps.Close()
	}
	f.mu.Unlock()
}

func (f *feed) run() {
	defer f.t.wg.Done()
	defer f.client.Close()
	backoff := minBackoff
	for {
		wasUp, err := f.session()
		if f.ctx.Err() != nil {
			return
		}
		f.t.report(f, false, err)
		if wasUp {
			backoff = minBackoff
		} else {
			backoff = min(2*backoff, maxBackoff)
		}
		select {
		case <-f.ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

// session tracks over one connection until it fails, and says whether
// tracking was ever on over it. A receive loop, not PubSub.Channel: the
// channel drops the null-payload message FLUSHDB and FLUSHALL send.
func (f *feed) session() (wasUp bool, err error) {
	f.mu.Lock()
	if f.ctx.Err() != nil {
		f.mu.Unlock()
		return false, f.ctx.Err()
	}
	f.dialed.Store(false)
	ps := f.client.Subscribe(f.ctx) // no channel: no connection yet
	f.ps = ps
	f.mu.Unlock()
	defer ps.Close()
	// Dials, runs trackOn and sends SUBSCRIBE; the confirmation comes
	// through Receive.
	if err := ps.Subscribe(f.ctx, invalidateChannel); err != nil {
		return false, err
	}
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(f.ctx, f.t.opt.Ping)
		switch {
		case err == nil:
		case isFlush(err):
			f.t.sink.flush()
			continue
		case isTimeout(err) && !pinged && f.ctx.Err() == nil:
			if err := ps.Ping(f.ctx); err != nil {
				return wasUp, fmt.Errorf("ping: %w", err)
			}
			pinged = true
			continue
		case isTimeout(err):
			return wasUp, fmt.Errorf("no reply to a ping within %v: %w", f.t.opt.Ping, err)
		default:
			return wasUp, err
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == invalidateChannel {
				// Every confirmation follows a handshake that turned
				// tracking on (trackOn), on that same connection.
				wasUp = true
				f.t.report(f, true, nil)
			}
		case *redis.Message:
			if m.Channel == invalidateChannel {
				keys := m.PayloadSlice
				if keys == nil {
					keys = []string{m.Payload}
				}
				f.t.sink.invalidateRedisKeys(keys)
			}
		}
	}
}

// isFlush recognises the invalidation message FLUSHDB and FLUSHALL send: a
// null payload, which go-redis v9 reports as this error after reading the
// whole message, so the connection is still in step. Should go-redis ever
// word it differently, the message counts as a lost connection instead:
// flushed all the same, and tracked again after a reconnection.
func isFlush(err error) bool {
	return strings.Contains(err.Error(), "unsupported pubsub message payload: <nil>")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}
