package backie

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// completeBatchMax bounds how many results one flush writes.
const completeBatchMax = 2000

// completeLinger is how long a flush may wait for more results once what
// was waiting is gathered, until it holds completeLingerFor results (or half
// the workers of a larger pool). Under load this turns many small writes
// into a few large ones: Postgres spends far more per statement and commit
// than per row, which matters most for small pools (4 pools of 25 workers:
// 15,000 -> 16,600-17,600 tasks/s). It delays the write of a finished task,
// never a task's start or a worker.
const completeLinger = 4 * time.Millisecond

// completeLingerFor is the batch size that ends the linger early.
const completeLingerFor = 50

// Finishing writes. Both match on (id, attempt) with the task still Running
// and unfinished, so only the attempt that owns a task can finish it: a
// task removed, rescued or claimed again in the meantime is left alone, and
// replaying a write after a lost connection changes nothing.
//
// They run on generic plans (see planSQL), which must find each task by its
// id. "done_at IS NULL" is spelled num_nonnulls(done_at) = 0 so that the
// planner cannot use either claim index, whose predicates it would
// otherwise match: a plan made while the table looked empty would scan all
// of such an index for every batch.
const (
	completeDeleteSQL = `DELETE FROM backie_tasks AS t
USING unnest($1::uuid[], $2::int[]) AS f(id, attempt)
WHERE t.id = f.id AND t.attempt = f.attempt AND t.running_at IS NOT NULL AND num_nonnulls(t.done_at) = 0`

	completeUpdateSQL = `UPDATE backie_tasks AS t SET
	running_at   = CASE WHEN f.kind IN (1, 2) THEN t.running_at END,
	done_at      = CASE WHEN f.kind IN (1, 2) THEN now() END,
	error_info   = CASE WHEN f.kind = 4 THEN t.error_info ELSE f.error_info END,
	retries      = t.retries + CASE WHEN f.kind = 3 THEN 1 ELSE 0 END,
	scheduled_at = CASE WHEN f.kind = 3 THEN now() + f.backoff_ms * interval '1 millisecond' ELSE t.scheduled_at END
FROM unnest($1::uuid[], $2::int[], $3::smallint[], $4::jsonb[], $5::bigint[]) AS f(id, attempt, kind, error_info, backoff_ms)
WHERE t.id = f.id AND t.attempt = f.attempt AND t.running_at IS NOT NULL AND num_nonnulls(t.done_at) = 0`
)

// completeLoop writes finished attempts in batches: it takes the first
// result, everything else already waiting, and what arrives within
// completeLinger (up to completeBatchMax), and writes them all in one round
// trip. One goroutine does it: on two cores, fewer and larger statements
// beat concurrent ones. Results are sent by the workers and the rescuer;
// the channel is closed once they have exited.
func (p *WorkerPool) completeLoop(ctx context.Context) {
	batch := make([]result, 0, completeBatchMax)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for first := range p.results {
		batch = append(batch[:0], first)
		// Gather what else is waiting, and for at most completeLinger what
		// arrives next.
		timer.Reset(completeLinger)
	gather:
		for len(batch) < completeBatchMax {
			select {
			case r, ok := <-p.results:
				if !ok {
					break gather
				}
				batch = append(batch, r)
			default:
				if len(batch) >= max(completeLingerFor, p.cfg.Workers/2) {
					break gather
				}
				select {
				case r, ok := <-p.results:
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
		p.flush(ctx, batch)
	}
}

// flush writes batch, retrying database errors with backoff: forever while
// the pool runs, for FinishTimeout per attempt and then gives up once the
// pool is stopping (the tasks are then rescued after their timeout).
func (p *WorkerPool) flush(ctx context.Context, batch []result) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for failures := 1; ; failures++ {
		err := p.writeResults(ctx, batch)
		if err == nil {
			return
		}
		stopping := p.stopping()
		if stopping && failures >= 3 {
			p.log.Error("backie: could not record finished tasks; they will be retried after their timeout",
				"error", err, "tasks", len(batch))
			return
		}
		d := errorBackoff(failures)
		p.log.Error("backie: recording finished tasks failed, retrying", "error", err, "tasks", len(batch), "retry_in", d)
		sleep(ctx, timer, d)
	}
}

func (p *WorkerPool) stopping() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state != poolRunning
}

// writeResults sends the DELETE and the UPDATE for batch in one round trip.
func (p *WorkerPool) writeResults(ctx context.Context, batch []result) error {
	var (
		delIDs      []pgtype.UUID
		delAttempts []int32
		ids         []pgtype.UUID
		attempts    []int32
		kinds       []int16
		errInfos    []json.RawMessage // nil: NULL
		backoffs    []int64
	)
	for _, r := range batch {
		if r.kind == resultDelete {
			delIDs = append(delIDs, pgID(r.id))
			delAttempts = append(delAttempts, r.attempt)
			continue
		}
		ids = append(ids, pgID(r.id))
		attempts = append(attempts, r.attempt)
		kinds = append(kinds, int16(r.kind))
		errInfos = append(errInfos, json.RawMessage(r.errInfo))
		backoffs = append(backoffs, r.backoffMS)
	}
	b := &pgx.Batch{}
	b.Queue(planSQL)
	if len(delIDs) > 0 {
		b.Queue(completeDeleteSQL, delIDs, delAttempts)
	}
	if len(ids) > 0 {
		b.Queue(completeUpdateSQL, ids, attempts, kinds, errInfos, backoffs)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.FinishTimeout)
	defer cancel()
	if err := p.q.pool.SendBatch(ctx, b).Close(); err != nil {
		return interpretError("backie: finish tasks", err)
	}
	return nil
}
