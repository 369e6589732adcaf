package backie

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// rescueSQL finds tasks of this pool's names and types that have been
// Running longer than their timeout plus the margin ($3 ms): their worker
// died (process killed, machine lost) or their Run ignores its context.
// A Running task was scheduled before it was claimed, so the scheduled_at
// bound (implied by the running_at one) lets the claim index limit the
// scan to tasks due for longer than the margin.
const rescueSQL = `SELECT id, task_name, payload, retries, max_retries, attempt, timeout_msecs, running_at
FROM backie_tasks
WHERE done_at IS NULL AND running_at IS NOT NULL
  AND scheduled_at < now() - $3::bigint * interval '1 millisecond'
  AND running_at < now() - (timeout_msecs + $3::bigint) * interval '1 millisecond'
  AND task_name = ANY($1::text[])
  AND ($2::text[] IS NULL OR task_type = ANY($2::text[]))
ORDER BY running_at
LIMIT $4`

const rescueBatchMax = 1000

// rescueLoop takes abandoned tasks back, at start and then every
// RescueInterval (with jitter, so that many pools spread their queries). A
// rescued task fails its attempt with a timeout error and follows the retry
// rules; the write goes through the completer, guarded like any finishing
// write, so a task that finishes meanwhile, or that another pool rescues
// first, is not touched twice.
func (p *WorkerPool) rescueLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var failures int
	for {
		wait := p.cfg.RescueInterval
		n, err := p.rescue(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures++
			wait = min(wait, errorBackoff(failures))
			p.log.Error("backie: looking for abandoned tasks failed", "error", err, "retry_in", wait)
		default:
			failures = 0
			if n > 0 {
				p.log.Warn("backie: took back abandoned tasks", "count", n)
			}
			if n == rescueBatchMax {
				wait = 0
			}
		}
		jitter := time.Duration(rand.Int64N(int64(wait)/10 + 1))
		if !sleep(ctx, timer, wait+jitter) {
			return
		}
	}
}

func (p *WorkerPool) rescue(ctx context.Context) (int, error) {
	rows, err := p.q.pool.Query(ctx, rescueSQL, p.names, p.types, p.cfg.RescueMargin.Milliseconds(), rescueBatchMax)
	if err != nil {
		return 0, interpretError("backie: rescue tasks", err)
	}
	var recs []*TaskRecord
	for rows.Next() {
		var (
			rec       TaskRecord
			timeoutMS int64
		)
		if err := rows.Scan((*[16]byte)(&rec.ID), &rec.Name, &rec.Payload, &rec.Retries, &rec.MaxRetries, &rec.Attempt, &timeoutMS, &rec.RunningAt); err != nil {
			rows.Close()
			return 0, interpretError("backie: rescue tasks", err)
		}
		rec.Timeout = time.Duration(timeoutMS) * time.Millisecond
		recs = append(recs, &rec)
	}
	if err := rows.Err(); err != nil {
		return 0, interpretError("backie: rescue tasks", err)
	}
	for _, rec := range recs {
		log := p.log.With("task_id", rec.ID, "task_name", rec.Name, "retries", rec.Retries, "attempt", rec.Attempt)
		info := ErrorInfo{
			Message: fmt.Sprintf("%v: running since %s, longer than its timeout %v plus %v: its worker was lost",
				ErrTaskTimeout, rec.RunningAt.UTC().Format(time.RFC3339Nano), rec.Timeout, p.cfg.RescueMargin),
			Kind:    "abandoned",
			Attempt: rec.Retries,
			At:      time.Now().UTC(),
		}
		task, _ := p.decodeSafely(rec)
		select {
		case p.results <- p.failure(log, rec, task, info):
		case <-ctx.Done():
			return len(recs), nil
		}
	}
	return len(recs), nil
}

// decodeSafely decodes rec's task, turning a panic into an error.
func (p *WorkerPool) decodeSafely(rec *TaskRecord) (task Task, err error) {
	defer func() {
		if r := recover(); r != nil {
			task, err = nil, fmt.Errorf("%w: %v", ErrDecodePayload, r)
		}
	}()
	return p.q.reg.decode(rec.Name, rec.Payload)
}
