package rediscache

import (
	"strconv"

	"github.com/headline/headline"
)

// ProfileKey is the Toutiao backend's key for a cached profile.
func ProfileKey(id headline.UserID) string {
	return "user:" + strconv.FormatInt(id, 10) + ":info"
}

// StatusKey is the Toutiao backend's key for a cached account status; its
// value is the status column, "1" (enabled) or "0" (disabled).
func StatusKey(id headline.UserID) string {
	return "user:" + strconv.FormatInt(id, 10) + ":status"
}

// LeaseKey is the lease on ProfileKey(id). The braces make Redis Cluster hash
// only "user:<id>:info", so the lease lives in the value key's slot and one
// script can touch both.
func LeaseKey(id headline.UserID) string {
	return "{" + ProfileKey(id) + "}:lease"
}

// WrittenKey marks ProfileKey(id) as updated in the last fresh window: while
// it lives, instances that read from MySQL replicas load id from the primary.
// It shares the value key's slot, so the lease pipeline reads it at no cost.
func WrittenKey(id headline.UserID) string {
	return "{" + ProfileKey(id) + "}:written"
}
