package store

// UseMGetOnLocalMiss makes p read the local tier's misses with a plain
// MGET and a lease pipeline instead of the read-or-lease script, for the
// benchmark that compares the two.
func UseMGetOnLocalMiss(p *Profiles) { p.mgetOnLocalMiss = true }
