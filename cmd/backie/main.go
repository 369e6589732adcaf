// Command backie inspects and steers the Backie task queue of a PostgreSQL
// database: it applies and reverts Backie's migrations, shows the counts and
// the tasks, retries, cancels and deletes tasks, purges finished ones, pauses
// and resumes task types, and serves the web dashboard.
//
// Install it with
//
//	go install github.com/backie-go/backie/cmd/backie@latest
//
// and run backie help for the commands, their flags and the exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Ctrl-C or SIGTERM cancels the command's context: a query in flight
	// is abandoned, and ui stops serving.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
