package backie

import (
	"context"
	"time"
)

// claimSQL marks up to $3 Ready tasks Running and returns them, in one
// statement: the inner SELECT … FOR UPDATE SKIP LOCKED takes rows no other
// transaction holds, so no task is handed to two workers, across goroutines
// and processes. attempt is bumped so that finishing writes can tell this
// attempt from a later one. $4, when not null, is the pool's TaskTimeout.
const claimSQL = `UPDATE backie_tasks AS t
SET running_at = now(), attempt = t.attempt + 1, timeout_msecs = COALESCE($4::bigint, t.timeout_msecs)
FROM (
	SELECT id FROM backie_tasks
	WHERE done_at IS NULL AND running_at IS NULL AND scheduled_at <= now()
	  AND task_name = ANY($1::text[])
	  AND ($2::text[] IS NULL OR task_type = ANY($2::text[]))
	ORDER BY scheduled_at, id
	LIMIT $3
	FOR UPDATE SKIP LOCKED
) AS c
WHERE t.id = c.id
RETURNING t.id, t.task_name, t.task_type, t.uniq_hash, t.payload, t.timeout_msecs, t.created_at,
	t.scheduled_at, t.running_at, t.done_at, t.error_info, t.retries, t.max_retries, t.attempt`

// claimLoop claims as many Ready tasks as there are free workers, in one
// statement, and hands them to the workers. It sleeps when every worker is
// busy, and when no task is due until a notification, the poll interval or
// a freed worker (after a full batch) wakes it. It closes jobs on exit.
func (p *WorkerPool) claimLoop(ctx context.Context) {
	defer close(p.jobs)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var failures int
	for ctx.Err() == nil {
		free := int(p.free.Load())
		if free == 0 {
			select {
			case <-ctx.Done():
				return
			case <-p.slotFreed:
			}
			continue
		}
		recs, err := p.claim(ctx, free)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			d := errorBackoff(failures)
			p.log.Error("backie: claiming tasks failed, retrying", "error", err, "retry_in", d)
			if !sleep(ctx, timer, d) {
				return
			}
			continue
		}
		failures = 0
		for _, rec := range recs {
			p.free.Add(-1)
			p.jobs <- rec // never blocks: at most Workers records are out
		}
		if len(recs) == free {
			continue // maybe more are due: claim again once a worker is free
		}
		// Drained what is due: wait for a notification or the poll tick.
		timer.Reset(p.cfg.PollInterval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-p.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

func (p *WorkerPool) claim(ctx context.Context, n int) ([]*TaskRecord, error) {
	var timeout *int64
	if p.cfg.TaskTimeout > 0 {
		ms := max(p.cfg.TaskTimeout.Milliseconds(), 1)
		timeout = &ms
	}
	// The statement runs on a context the soft stop does not cancel: a claim
	// cancelled after Postgres committed it would strand its tasks Running
	// until the rescuer took them back, at the cost of an attempt.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), claimStatementTimeout)
	defer cancel()
	rows, err := p.q.pool.Query(ctx, claimSQL, p.names, p.types, n, timeout)
	if err != nil {
		return nil, interpretError("backie: claim tasks", err)
	}
	defer rows.Close()
	recs := make([]*TaskRecord, 0, n)
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, interpretError("backie: claim tasks", err)
		}
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, interpretError("backie: claim tasks", err)
	}
	return recs, nil
}

// claimStatementTimeout bounds one claim statement.
const claimStatementTimeout = 30 * time.Second

// errorBackoff is the wait after the n-th consecutive database failure of a
// background loop: 100ms doubling up to 5s.
func errorBackoff(n int) time.Duration {
	d := 100 * time.Millisecond << min(max(n-1, 0), 6)
	return min(d, 5*time.Second)
}
