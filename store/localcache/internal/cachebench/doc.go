// Package cachebench compares the two cache libraries considered for
// headline's local tier, otter v2 and ristretto v2, on its workload, and
// tries go-redis's own client-side cache. It is a module of its own, so that
// neither the losing library nor the trial enters headline's go.mod, and so
// that `go test ./...` of headline does not run it:
//
//	cd store/localcache/internal/cachebench
//	go test -run . -bench . -benchmem -count 3
//
// TestCSCReads and TestCSCStaleness need redis-server on the PATH.
package cachebench
