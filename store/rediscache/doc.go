// Package rediscache is the Redis side of the profile cache: the keys and
// values it shares byte for byte with the Toutiao Flask app (user:<id>:info
// as JSON or "-1", user:<id>:status, their TTL draws), reads of a batch in
// one round trip (MGET, or a pipeline of GETs on a cluster; or the
// read-or-lease script, which takes the leases of absent profiles in the
// same round trip), the leases that
// keep a load from writing back a row an update overtook, fills and
// invalidations, and the per-node circuit breakers and per-call timeout
// around every call. It is the only code that knows that format. It also
// opens the cache's client (Open), bounded so that a Redis failure costs
// one short timeout.
//
// It imports the domain package (headline) and go-redis; not SQL, and not
// the rest of store.
package rediscache
