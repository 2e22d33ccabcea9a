// Package store serves user profiles: Profiles reads them cache-aside, a
// batch at a time, from an in-process tier (LocalTier, store/localcache)
// when it has one, from the Redis cache the Flask app shares
// (store/rediscache) and from MySQL (store/sqldb), and applies updates. It
// declares the Observer seam through which metrics and request logs learn
// what it did.
//
// It imports the domain package (headline) and its subpackages; nothing
// above it (dataloaders, graph, cmd) imports into it.
package store
