// Package persisted keeps automatic persisted queries (Apollo APQ): the
// text of each query by its SHA-256, in Redis shared by every instance,
// with an LRU in each process in front of it, and budgets that bound what
// registrations can make Redis hold.
//
// It imports the domain package (headline) for errors with codes, and
// store/rediscache for its Redis with breakers and timeouts.
package persisted
