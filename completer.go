package backie

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// completeBatchMax bounds how many results one write carries.
const completeBatchMax = 2000

// completeLinger is how long a write may wait for more results once what
// was waiting is gathered, until it holds completeLingerFor results (or
// half the workers of a larger pool). Under load this turns many small
// writes into a few large ones: PostgreSQL spends far more per statement
// and commit than per row, which matters most for small pools (figures in
// docs/benchmarks.md). It delays the write of a finished task, never a
// task's start or a worker.
const completeLinger = 4 * time.Millisecond

// completeLingerFor is the batch size that ends the linger early.
const completeLingerFor = 50

// flushGiveUpAfter is how many failed writes of one batch a stopping pool
// makes before it gives the batch up (its tasks are then taken back after
// their timeout, like a crash).
const flushGiveUpAfter = 3

// completer writes finished attempts in batches: it takes the first
// result, everything else already waiting, and what arrives within
// completeLinger (up to completeBatchMax), and writes them all in one round
// trip. One goroutine does it: on two cores, fewer and larger statements
// beat concurrent ones. Results come from the workers and the rescuer; the
// pool closes results once they have exited, and run returns when it has
// written everything.
type completer struct {
	db            *pgxpool.Pool
	log           *slog.Logger
	results       <-chan rowChange
	lingerFor     int
	finishTimeout time.Duration
	// stopping reports whether the pool is stopping: writes are then given
	// up after a few failures instead of retried forever.
	stopping func() bool
	// dueIn is told, after a write, when the earliest task it put back to
	// wait (a retry, a snooze) is due, so that the pool wakes for it.
	dueIn func(time.Duration)
	// written, when not nil, is called after each write (a test hook).
	written func()
}

func (c *completer) run(ctx context.Context) {
	batch := make([]rowChange, 0, completeBatchMax)
	timer := newStoppedTimer()
	for first := range c.results {
		batch = append(batch[:0], first)
		timer.Reset(completeLinger)
	gather:
		for len(batch) < completeBatchMax {
			select {
			case r, ok := <-c.results:
				if !ok {
					break gather
				}
				batch = append(batch, r)
			default:
				if len(batch) >= c.lingerFor {
					break gather
				}
				select {
				case r, ok := <-c.results:
					if !ok {
						break gather
					}
					batch = append(batch, r)
				case <-timer.C:
					break gather
				}
			}
		}
		timer.Stop()
		c.flush(ctx, batch)
	}
}

// flush writes batch, retrying database errors with backoff: forever while
// the pool runs; flushGiveUpAfter times once it is stopping.
func (c *completer) flush(ctx context.Context, batch []rowChange) {
	timer := newStoppedTimer()
	for failures := 1; ; failures++ {
		err := c.write(ctx, batch)
		if err == nil {
			c.wakeForWaiting(batch)
			if c.written != nil {
				c.written()
			}
			return
		}
		if c.stopping() && failures >= flushGiveUpAfter {
			c.log.Error("backie: could not record finished tasks; they will be retried after their timeout",
				"error", err, "tasks", len(batch))
			return
		}
		d := errorBackoff(failures)
		c.log.Error("backie: recording finished tasks failed, retrying", "error", err, "tasks", len(batch), "retry_in", d)
		sleep(ctx, timer, d)
	}
}

// wakeForWaiting tells dueIn when each task that batch put back to wait
// is due (dueIn keeps the times within the poll interval, once).
func (c *completer) wakeForWaiting(batch []rowChange) {
	for _, r := range batch {
		if !r.remove && !r.finish && r.delayMS != nil {
			c.dueIn(time.Duration(*r.delayMS) * time.Millisecond)
		}
	}
}

// write sends the DELETE and the UPDATE for batch in one round trip.
func (c *completer) write(ctx context.Context, batch []rowChange) error {
	ctx, cancel := context.WithTimeout(ctx, c.finishTimeout)
	defer cancel()
	return writeRowChanges(ctx, c.db, batch)
}

// writeRowChanges writes finished attempts: the rows to remove with
// sqlFinishDelete, the others with sqlFinishUpdate, in one round trip.
func writeRowChanges(ctx context.Context, db *pgxpool.Pool, batch []rowChange) error {
	var del struct {
		ids      []pgtype.UUID
		attempts []int32
	}
	var upd struct {
		ids        []pgtype.UUID
		attempts   []int32
		finish     []bool
		keepError  []bool
		errorInfo  []json.RawMessage // nil: NULL
		addRetries []int32
		delayMS    []*int64
	}
	for _, r := range batch {
		if r.remove {
			del.ids = append(del.ids, pgID(r.id))
			del.attempts = append(del.attempts, r.attempt)
			continue
		}
		upd.ids = append(upd.ids, pgID(r.id))
		upd.attempts = append(upd.attempts, r.attempt)
		upd.finish = append(upd.finish, r.finish)
		upd.keepError = append(upd.keepError, r.keepError)
		upd.errorInfo = append(upd.errorInfo, json.RawMessage(r.errorInfo))
		upd.addRetries = append(upd.addRetries, r.addRetries)
		upd.delayMS = append(upd.delayMS, r.delayMS)
	}
	b := &pgx.Batch{}
	b.Queue(sqlPlanSettings)
	if len(del.ids) > 0 {
		b.Queue(sqlFinishDelete, del.ids, del.attempts)
	}
	if len(upd.ids) > 0 {
		b.Queue(sqlFinishUpdate, upd.ids, upd.attempts, upd.finish, upd.keepError, upd.errorInfo,
			upd.addRetries, upd.delayMS)
	}
	if err := db.SendBatch(ctx, b).Close(); err != nil {
		return opError("finish tasks", err)
	}
	return nil
}
