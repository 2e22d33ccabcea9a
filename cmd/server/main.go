// Command server runs headline, the GraphQL profile service.
//
//	server                            serve (embedded engines when neither MYSQL_DSN nor any Redis is set)
//	server migrate up|down|status     create the Toutiao tables headline needs, undo that, or list it; then exit
//	server -h                         list every setting
//	server -version                   print the build's version and VCS revision
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/headline/headline/cmd/server/internal/settings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts a graceful stop (SHUTDOWN_TIMEOUT for
	// in-flight requests); after it the signals' default action is back, so
	// a second one ends the process at once.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args, os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
	}
	os.Exit(settings.ExitCode(err))
}
