package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unsafe"

	goredis "github.com/redis/go-redis/v9"

	"github.com/headline/headline"
	"github.com/headline/headline/store/localcache"
	"github.com/headline/headline/store/rediscache"
)

// LocalEntry is what the local tier holds of one Redis entry, decoded: a
// user:<id>:info entry's profile or "-1", or a user:<id>:status entry's
// status.
type LocalEntry struct {
	kind   rediscache.Kind // of an info entry: Hit or Missing
	user   *headline.User  // when kind is Hit; shared, never changed
	status rediscache.Status
}

// LocalTier is the in-process tier in front of Redis (store/localcache):
// decoded profiles, "-1" entries and statuses held in memory, bounded by
// bytes and by age, and kept coherent with Redis by a localcache.Tracker
// its owner starts on it. Profiles reads it before Redis and fills it only
// from what Redis returned (see ProfilesOptions.Local).
type LocalTier = localcache.Tier[LocalEntry]

// NewLocalTier returns a tier bounded by maxBytes (0: none, a nil tier)
// and whose entries live at most maxAge (0: localcache.DefaultMaxAge). It
// is not usable until a localcache.Tracker on it says every Redis master
// tracks.
func NewLocalTier(maxBytes int64, maxAge time.Duration) (*LocalTier, error) {
	return localcache.New(localcache.Options[LocalEntry]{MaxBytes: maxBytes, MaxAge: maxAge, Weigh: weighLocal})
}

// StartLocalTier makes a tier as NewLocalTier does and starts its tracker
// on the masters of the Redis redis names; the tier serves once every
// master tracks. stop ends the tracker and the tier: call it after the
// Profiles reading the tier are closed. With maxBytes 0 the tier is off:
// nil, and stop does nothing.
func StartLocalTier(maxBytes int64, maxAge time.Duration, redis *goredis.UniversalOptions, log *slog.Logger) (_ *LocalTier, stop func(), err error) {
	tier, err := NewLocalTier(maxBytes, maxAge)
	if err != nil || tier == nil {
		return nil, func() {}, err
	}
	tr, err := localcache.NewTracker(tier, localcache.TrackerOptions{Redis: redis, Log: log})
	if err != nil {
		tier.Close()
		return nil, nil, fmt.Errorf("local cache: %w", err)
	}
	return tier, func() {
		_ = tr.Close()
		tier.Close()
	}, nil
}

// weighLocal counts what an entry holds beyond localcache.EntryOverhead:
// the profile's compactUser and the bytes of its text, and the LocalEntry
// (which sits in the overhead's node: counted again, a margin of 24 bytes).
func weighLocal(_ localcache.Key, e LocalEntry) int {
	u := e.user
	if u == nil {
		return int(unsafe.Sizeof(e))
	}
	n := int(unsafe.Sizeof(e)) + int(unsafe.Sizeof(compactUser{})) + len(u.Name)
	for _, p := range []*string{u.Photo, u.Intro, u.Certi} {
		if p != nil {
			n += len(*p)
		}
	}
	return n
}

// compactUser is a profile as the tier holds it: the user and the strings
// its pointers point at in one object, and all its text in one other. The
// decoder's user is five objects (the user, three string headers, and the
// Redis reply its strings are cut from), four of which the collector scans
// at every cycle for every profile the tier holds; this is two, one
// scanned, and the reply, longer than the text, is not kept.
type compactUser struct {
	user headline.User
	strs [3]string
}

// compact copies u into a compactUser; nil stays nil.
func compact(u *headline.User) *headline.User {
	if u == nil {
		return nil
	}
	fields := [3]*string{u.Photo, u.Intro, u.Certi}
	n := len(u.Name)
	for _, f := range fields {
		if f != nil {
			n += len(*f)
		}
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(u.Name)
	for _, f := range fields {
		if f != nil {
			b.WriteString(*f)
		}
	}
	text := b.String()
	c := &compactUser{user: headline.User{ID: u.ID, Name: text[:len(u.Name)]}}
	at := len(u.Name)
	for i, f := range fields {
		if f == nil {
			continue
		}
		c.strs[i] = text[at : at+len(*f)]
		at += len(*f)
		fields[i] = &c.strs[i]
	}
	c.user.Photo, c.user.Intro, c.user.Certi = fields[0], fields[1], fields[2]
	return &c.user
}

func infoKey(id headline.UserID) localcache.Key {
	return localcache.Key{ID: id, Kind: localcache.Info}
}

func statusKey(id headline.UserID) localcache.Key {
	return localcache.Key{ID: id, Kind: localcache.Status}
}

// readCache reads the batch's entries from the local tier, and what it
// lacks from Redis in one round trip: the profiles that missed locally and
// the statuses asked for that missed (none for an id the tier knows has no
// user). Without a tier (a nil one misses everything) that is the whole
// batch. What Redis returned fills the tier under a ticket taken before
// the read was sent, so that a reply overtaken by the invalidation of a
// later write is not kept. A failed Redis read is logged and leaves the
// local answers in place and the rest misses.
func (p *Profiles) readCache(ctx context.Context, b *batch) {
	n := len(b.ids)
	b.entries = make([]rediscache.Entry, n)
	flags := make([]bool, 2*n)
	b.localProfile, b.redisStatus = flags[:n:n], flags[n:]
	b.cacheOK = true
	var ids, statusIDs []headline.UserID // what Redis is asked for
	for i, id := range b.ids {
		if v, ok := p.opts.Local.Get(infoKey(id)); ok {
			b.entries[i] = rediscache.Entry{Kind: v.kind, User: v.user}
			b.localProfile[i] = true
		} else {
			ids = append(ids, id)
		}
	}
	for _, id := range b.statusIDs {
		i := b.pos[id]
		if b.localProfile[i] && b.entries[i].Kind == rediscache.Missing {
			continue // no such user: no status needed
		}
		if v, ok := p.opts.Local.Get(statusKey(id)); ok {
			b.entries[i].Status = v.status
		} else {
			statusIDs = append(statusIDs, id)
			b.redisStatus[i] = true
		}
	}
	if len(ids)+len(statusIDs) == 0 {
		return
	}
	var tk *localcache.Ticket[LocalEntry] // nil: the tier keeps nothing of this read
	if p.opts.Local.Usable() {
		keys := make([]localcache.Key, 0, len(ids)+len(statusIDs))
		for _, id := range ids {
			keys = append(keys, infoKey(id))
		}
		for _, id := range statusIDs {
			keys = append(keys, statusKey(id))
		}
		tk = p.opts.Local.Begin(keys) // before the read is sent
		defer tk.Done()
	}
	r, lease, err := p.readRedis(ctx, ids, statusIDs)
	if err != nil {
		b.cacheOK = false
		p.readFailed(ctx, b, err)
		return
	}
	b.lease = lease
	for j, id := range ids {
		e := &b.entries[b.pos[id]]
		status := e.Status
		*e = r.Profiles[j]
		e.Status = status
		if tk != nil && e.Kind != rediscache.Miss {
			tk.Fill(j, LocalEntry{kind: e.Kind, user: compact(e.User)})
		}
	}
	for j, id := range statusIDs {
		st := r.Statuses[j]
		b.entries[b.pos[id]].Status = st
		if tk != nil && st != rediscache.StatusUnknown {
			tk.Fill(len(ids)+j, LocalEntry{status: st})
		}
	}
}

// readRedis reads what the tier lacked with the read-or-lease script,
// which takes the leases of absent profiles in the same round trip: a
// cold batch costs the read and the fill. While the tier is not usable
// (tracking down or not allowed) every lookup reaches Redis, mostly for
// entries Redis holds, and a plain MGET serves those at half the Redis CPU
// time of the script; so it does then, as without a tier (figures:
// BenchmarkLocalMiss, which also runs the MGET on local misses for
// comparison).
func (p *Profiles) readRedis(ctx context.Context, ids, statusIDs []headline.UserID) (rediscache.Read, rediscache.Lease, error) {
	if p.mgetOnLocalMiss || !p.opts.Local.Usable() {
		r, err := p.cache.Read(ctx, ids, statusIDs)
		return r, rediscache.Lease{}, err
	}
	return p.cache.ReadOrLease(ctx, ids, statusIDs, p.opts.LeaseTTL, p.opts.Replicas != nil)
}
