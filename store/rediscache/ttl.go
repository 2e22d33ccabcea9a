package rediscache

import (
	"math/rand/v2"
	"time"
)

// TTLs says how long cache entries live; zero fields take their values in
// DefaultTTLs. Each entry draws its own jitter, so entries written in one
// batch do not expire together (cache avalanche).
type TTLs struct {
	// Profile is the base lifetime of a cached profile.
	Profile time.Duration
	// ProfileJitter is the random extra lifetime [0, ProfileJitter).
	ProfileJitter time.Duration
	// Missing is the base lifetime of the "-1" entry for an id with no user.
	// It is short so that a user who signs up is seen soon.
	Missing time.Duration
	// MissingJitter is the random extra lifetime of a "-1" entry.
	MissingJitter time.Duration
	// Status is the base lifetime of a user:<id>:status entry.
	Status time.Duration
	// StatusJitter is the random extra lifetime of a status entry.
	StatusJitter time.Duration
}

// DefaultTTLs are the Toutiao backend's constants (common/cache/constants.py):
// UserProfileCacheTTL, UserNotExistsCacheTTL and UserStatusCacheTTL.
var DefaultTTLs = TTLs{
	Profile:       30 * time.Minute,
	ProfileJitter: 10 * time.Minute,
	Missing:       5 * time.Minute,
	MissingJitter: 60 * time.Second,
	Status:        60 * time.Minute,
	StatusJitter:  10 * time.Minute,
}

func (t TTLs) withDefaults() TTLs {
	if t.Profile <= 0 {
		t.Profile = DefaultTTLs.Profile
	}
	if t.ProfileJitter <= 0 {
		t.ProfileJitter = DefaultTTLs.ProfileJitter
	}
	if t.Missing <= 0 {
		t.Missing = DefaultTTLs.Missing
	}
	if t.MissingJitter <= 0 {
		t.MissingJitter = DefaultTTLs.MissingJitter
	}
	if t.Status <= 0 {
		t.Status = DefaultTTLs.Status
	}
	if t.StatusJitter <= 0 {
		t.StatusJitter = DefaultTTLs.StatusJitter
	}
	return t
}

// DrawProfile draws the lifetime of one profile entry: Profile plus a
// random whole number of seconds in [0, ProfileJitter), as the Flask app's
// BaseCacheTTL.get_val does. Zero fields take their defaults.
func (t TTLs) DrawProfile() time.Duration {
	t = t.withDefaults()
	return draw(t.Profile, t.ProfileJitter)
}

// DrawMissing draws the lifetime of one "-1" entry, as DrawProfile does.
func (t TTLs) DrawMissing() time.Duration {
	t = t.withDefaults()
	return draw(t.Missing, t.MissingJitter)
}

// DrawStatus draws the lifetime of one status entry, as DrawProfile does.
func (t TTLs) DrawStatus() time.Duration {
	t = t.withDefaults()
	return draw(t.Status, t.StatusJitter)
}

// draw returns base + a random whole number of seconds in [0, jitter), as the
// Flask app's BaseCacheTTL.get_val does.
func draw(base, jitter time.Duration) time.Duration {
	n := int64(jitter / time.Second)
	if n <= 0 {
		return base
	}
	return base + time.Duration(rand.Int64N(n))*time.Second
}
