package backie

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// listenLoop holds one connection that LISTENs on the table's channel and
// wakes the claimer when a task of the pool's types is enqueued. On error
// it reconnects with backoff; the poll interval covers the gap.
func (p *WorkerPool) listenLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for failures := 1; ctx.Err() == nil; failures++ {
		err := p.listen(ctx, func() { failures = 0 })
		if ctx.Err() != nil {
			return
		}
		d := errorBackoff(failures)
		p.log.Warn("backie: listening for new tasks failed, polling meanwhile", "error", err, "retry_in", d)
		if !sleep(ctx, timer, d) {
			return
		}
	}
}

// listen calls listening once LISTEN has succeeded.
func (p *WorkerPool) listen(ctx context.Context, listening func()) error {
	pc, err := p.q.pool.Acquire(ctx)
	if err != nil {
		return interpretError("backie: listen", err)
	}
	// The connection leaves the caller's pool for good: it stays in LISTEN
	// state, and is closed when the pool stops.
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))

	var channel string
	if err := conn.QueryRow(ctx, `SELECT `+notifyChannel).Scan(&channel); err != nil {
		return interpretError("backie: listen", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return interpretError("backie: listen", err)
	}
	listening()
	signal(p.wake) // a task may have come while nobody listened
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("backie: listen: %w", err)
		}
		if p.types == nil || slices.Contains(p.types, n.Payload) {
			signal(p.wake)
		}
	}
}
