package backie

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// cancelPollMax bounds how long a CancelTask of a running task takes to
// reach its pool when notifications are off: the pool polls at least this
// often (more often with a shorter PollInterval).
const cancelPollMax = time.Second

// pollCancelled checks every interval whether the tasks the pool holds
// were cancelled, for pools without notifications, until ctx ends.
func pollCancelled(ctx context.Context, db *pgxpool.Pool, log *slog.Logger, work *workers, every time.Duration) {
	timer := newStoppedTimer()
	for sleep(ctx, timer, every) {
		checkCancelled(ctx, db, log, work)
	}
}

// checkCancelled cancels the tasks the pool holds, running or waiting for
// a worker, that were cancelled (CancelTask sets cancelled_at). One indexed
// lookup per task.
func checkCancelled(ctx context.Context, db *pgxpool.Pool, log *slog.Logger, work *workers) {
	ids := work.heldIDs()
	if len(ids) == 0 {
		return
	}
	rows, err := db.Query(ctx, sqlCancelRequested, pgIDs(ids))
	if err != nil {
		if ctx.Err() == nil {
			log.Debug("backie: looking for cancelled tasks failed", "error", err)
		}
		return
	}
	defer rows.Close()
	for rows.Next() {
		var id TaskID
		if err := rows.Scan((*[16]byte)(&id)); err != nil {
			return
		}
		work.cancel(id)
	}
}
