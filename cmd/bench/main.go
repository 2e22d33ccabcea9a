// Command bench measures headline beside the Toutiao Flask app it replaces:
// same run, same machine, same MariaDB and Redis. It seeds the users, builds
// and starts headline, starts the Flask app (when its folder is there), runs
// every scenario against both with vegeta, alternating which goes first, and
// prints one table with headline/Flask ratios. See docs/performance.md.
// It writes the cache as both servers read it with store/rediscache's key,
// encoder and TTL draws.
//
//	go run ./cmd/bench                 # defaults: 5s per run, concurrency 1 and 32
//	go run ./cmd/bench -h              # flags
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
