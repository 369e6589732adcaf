package backie

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// listener holds one connection that LISTENs on the channel of the tables'
// schema (sqlChannel) and hands every notification's payload to handle.
// On error it reconnects with backoff; the pool's polling covers the gap.
// connected is called after each successful LISTEN: a notification may
// have been missed while nobody listened.
type listener struct {
	db        *pgxpool.Pool
	log       *slog.Logger
	handle    func(payload string)
	connected func()
}

func (l *listener) run(ctx context.Context) {
	timer := newStoppedTimer()
	for failures := 1; ctx.Err() == nil; failures++ {
		err := l.listen(ctx, func() { failures = 0 })
		if ctx.Err() != nil {
			return
		}
		d := errorBackoff(failures)
		l.log.Warn("backie: listening for notifications failed, polling meanwhile", "error", err, "retry_in", d)
		if !sleep(ctx, timer, d) {
			return
		}
	}
}

// listen calls listening once LISTEN has succeeded, then handles
// notifications until an error.
func (l *listener) listen(ctx context.Context, listening func()) error {
	pc, err := l.db.Acquire(ctx)
	if err != nil {
		return opError("listen", err)
	}
	// The connection leaves the caller's pool for good: it stays in LISTEN
	// state, and is closed when the pool stops.
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))

	var channel string
	if err := conn.QueryRow(ctx, sqlSelectChannel).Scan(&channel); err != nil {
		return opError("listen", err)
	}
	if _, err := conn.Exec(ctx, sqlListen(channel)); err != nil {
		return opError("listen", err)
	}
	listening()
	l.connected()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("backie: listen: %w", err)
		}
		l.handle(n.Payload)
	}
}

// parseTaskNotification reads the payload sqlInsert sends for new tasks,
// "t<milliseconds>:<type>": the task type and how long until its earliest
// new task is due.
func parseTaskNotification(payload string) (taskType string, dueIn time.Duration, ok bool) {
	rest, found := strings.CutPrefix(payload, "t")
	if !found {
		return "", 0, false
	}
	ms, typ, found := strings.Cut(rest, ":")
	if !found {
		return "", 0, false
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n < 0 {
		return "", 0, false
	}
	return typ, time.Duration(min(n, math.MaxInt64/int64(time.Millisecond))) * time.Millisecond, true
}
