// Package localcache is headline's in-process tier in front of Redis: it
// holds decoded user:<id>:info and user:<id>:status entries in memory,
// bounded by bytes and by age, and keeps them coherent with Redis by
// server-assisted client-side caching (CLIENT TRACKING in broadcast mode),
// so that a warm read makes no round trip and a change by anyone — headline,
// the Flask app, expiry, eviction, FLUSHDB — evicts the entry from every
// instance within about a millisecond.
//
// A Tier holds the entries; a Tracker keeps one tracking connection per
// Redis master and applies its invalidations. A read that may fill the tier
// takes a Ticket before it is sent to Redis, so that a reply overtaken by
// the invalidation of a later write is not stored.
package localcache
