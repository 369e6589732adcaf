package backie

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// claimTemplate marks up to $3 Ready tasks Running and returns them, in one
// statement: the %s picks them with SELECT … FOR UPDATE SKIP LOCKED, which
// takes rows no other transaction holds, so no task is handed to two
// workers, across goroutines and processes. attempt is bumped so that
// finishing writes can tell this attempt from a later one. $4, when not
// null, is the pool's TaskTimeout.
const claimTemplate = `UPDATE backie_tasks AS t
SET running_at = now(), attempt = t.attempt + 1, timeout_msecs = COALESCE($4::bigint, t.timeout_msecs)
FROM (
%s
) AS c
WHERE t.id = c.id
RETURNING t.id, t.task_name, t.task_type, t.uniq_hash, t.payload, t.timeout_msecs, t.created_at,
	t.scheduled_at, t.running_at, t.done_at, t.error_info, t.retries, t.max_retries, t.attempt`

// claimScanTemplate locks up to $3 Ready tasks in claim order, oldest
// scheduled_at first. The first %s is the columns, the second the
// unfinished-and-type condition, the third the cursor condition.
const claimScanTemplate = `	SELECT %s FROM backie_tasks
	WHERE %s
	  AND running_at IS NULL AND scheduled_at <= now()
	  AND task_name = ANY($1::text[])
	  %s
	ORDER BY scheduled_at, id
	LIMIT $3
	FOR UPDATE SKIP LOCKED`

// claimTypesTemplate picks the tasks of a pool that serves a few task types
// ($2, no duplicates). One index scan cannot return several types' tasks
// in claim order, so each type is read through backie_tasks_type_claim_idx
// on its own (the %s, a claimScanTemplate as in claimOneType), and the
// oldest $3 of what those scans lock are claimed. Each scan must lock up to
// $3 tasks, since the oldest $3 due tasks may all be of one type; the locks
// on tasks not claimed end with the statement's transaction, a few
// milliseconds later. Such a claim took every worker it had, so this pool
// claims again as soon as a worker is free; another pool whose claim
// skipped those tasks while they were locked finds them at its next claim,
// wake-up or poll. Walking backie_tasks_claim_idx and filtering types in
// the heap instead would step over every due task of the types the pool
// does not serve, on every claim that starts from the head of the queue.
const claimTypesTemplate = `	SELECT c.id FROM unnest($2::text[]) AS ty(task_type)
	CROSS JOIN LATERAL (
	%s
	) AS c
	ORDER BY c.scheduled_at, c.id
	LIMIT $3`

const (
	// claimAnyType: $2 is the pool's types, or null for every type. The
	// claim walks backie_tasks_claim_idx and filters types in the heap. It
	// serves pools of every type, and pools of more than claimTypesMax
	// types (see claimTypesTemplate).
	claimAnyType = `done_at IS NULL AND ($2::text[] IS NULL OR task_type = ANY($2::text[]))`
	// claimOneType: $2 holds the pool's only type. The claim walks
	// backie_tasks_type_claim_idx, which holds that type's tasks in claim
	// order, so it never steps over the due tasks of other types. It says
	// "done_at IS NULL" as that index's predicate does (see migration
	// 000002), which is what keeps its generic plan on that index.
	claimOneType = `num_nulls(done_at) = 1 AND task_type = ($2::text[])[1]`
	// claimAfterCursor starts the index scan after the last task this pool
	// claimed ($5, $6). Claimed tasks leave dead entries at the head of the
	// claim index until VACUUM runs; under a backlog a scan from the start
	// would step over all of them on every claim.
	claimAfterCursor = `AND (scheduled_at, id) > ($5::timestamptz, $6::uuid)`
	// claimTypeOfRow: the type of the row of unnest($2) the scan is for.
	claimTypeOfRow = `num_nulls(done_at) = 1 AND task_type = ty.task_type`
)

var (
	claimSQL             = claimStatement(claimAnyType, "")
	claimAfterSQL        = claimStatement(claimAnyType, claimAfterCursor)
	claimOneTypeSQL      = claimStatement(claimOneType, "")
	claimOneTypeAfterSQL = claimStatement(claimOneType, claimAfterCursor)
	claimTypesSQL        = claimTypesStatement("")
	claimTypesAfterSQL   = claimTypesStatement(claimAfterCursor)
)

// claimStatement is a claim that walks one index with condition cond.
func claimStatement(cond, cursor string) string {
	return fmt.Sprintf(claimTemplate, fmt.Sprintf(claimScanTemplate, "id", cond, cursor))
}

// claimTypesStatement is the claim of a pool of a few types.
func claimTypesStatement(cursor string) string {
	scan := fmt.Sprintf(claimScanTemplate, "id, scheduled_at", claimTypeOfRow, cursor)
	scan = strings.ReplaceAll(scan, "\n", "\n\t") // one level deeper
	return fmt.Sprintf(claimTemplate, fmt.Sprintf(claimTypesTemplate, scan))
}

// planSQL sets, for the rest of the transaction it is sent in, how
// Postgres plans the claim and the finishing writes. It goes first in the
// same round trip and the same implicit transaction as those statements, so
// nothing leaks into the caller's connections (set_config(…, true) ends
// with the transaction).
//
// Postgres plans a prepared statement afresh on every execution when it
// guesses that a plan for the actual parameters beats the generic one, and
// with array and LIMIT parameters it always guesses so: planning the claim
// took 0.35 ms of server CPU per call, more than running it (a claim of 25
// tasks ran in 0.5 ms), and a finishing write 0.15 ms. Each of these
// statements has one right plan at every table size, index lookups driven
// by the claim index or by the ids, so they use a generic plan, made once
// per connection and statement. Such a plan outlives the statistics it was
// made with (a table empty at the first claim may hold a million tasks an
// hour later), and, not knowing LIMIT $3 or the length of an id array, it
// would rather read the whole table, or, made on a table that was empty,
// scan all of it once per id; so scans and joins that read a whole table,
// sort it or keep it in memory are ruled out while it is made (the plans
// are checked in plan_test.go, on an empty and on a large table). JIT is
// off too: the generic claim's estimate (10% of the due tasks, LIMIT being
// unknown) passes jit_above_cost once a million tasks wait, and JIT then
// compiled the claim on every call (10 ms for a claim that runs in 0.3 ms;
// a 1,000,000-task backlog of 50 ms tasks drained at 1,420 instead of
// 1,890 tasks/s).
const planSQL = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
	set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
	set_config('enable_sort', 'off', true), set_config('enable_hashjoin', 'off', true),
	set_config('enable_mergejoin', 'off', true), set_config('enable_material', 'off', true),
	set_config('jit', 'off', true)`

// fullScanEvery bounds how long the claimer claims after a cursor: tasks
// that sort before it (due earlier but committed late, or skipped while
// another pool's claim held them and then rolled back) are found by the next
// scan from the start.
const fullScanEvery = 250 * time.Millisecond

// claimCooldown bounds the pause after a claim that filled every free
// worker; the pause ends as soon as every worker is free again.
const claimCooldown = time.Millisecond

// claimTypesMax is the most task types a pool may serve and still claim
// through backie_tasks_type_claim_idx, one scan per type (claimTypesSQL).
// Each of those scans locks up to a claim's worth of tasks, most of which
// the claim does not take.
const claimTypesMax = 8

// claimCursor is the (scheduled_at, id) of the last task claimed.
type claimCursor struct {
	scheduledAt time.Time
	id          TaskID
}

// claimLoop claims as many Ready tasks as there are free workers, in one
// statement, and hands them to the workers. It sleeps when every worker is
// busy, and when no task is due until a notification, the poll interval or
// a freed worker (after a full batch) wakes it. It closes jobs on exit.
func (p *WorkerPool) claimLoop(ctx context.Context) {
	defer close(p.jobs)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var (
		failures int
		cursor   *claimCursor // nil: scan from the start
		lastFull time.Time
	)
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
		if cursor != nil && time.Since(lastFull) >= fullScanEvery {
			cursor = nil
		}
		if cursor == nil {
			lastFull = time.Now()
		}
		recs, err := p.claim(ctx, free, cursor)
		if err != nil {
			cursor = nil
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
			last := recs[len(recs)-1]
			cursor = &claimCursor{scheduledAt: last.ScheduledAt, id: last.ID}
			// More are likely due. Give the workers a moment to finish a
			// few, so that the next claim is a batch rather than one task
			// per round trip.
			if !p.cooldown(ctx, timer) {
				return
			}
			continue
		}
		cursor = nil
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

// cooldown waits, after a claim that filled every free worker, until
// every worker is free again or claimCooldown has passed, whichever is
// first, so that the next claim is a batch rather than one task per round
// trip, without idling workers that finished early. Waiting for half the
// workers instead made claims smaller and more frequent, which cost more
// than it saved. It reports whether ctx is still live.
func (p *WorkerPool) cooldown(ctx context.Context, timer *time.Timer) bool {
	want := int64(p.cfg.Workers)
	timer.Reset(claimCooldown)
	defer timer.Stop()
	for p.free.Load() < want {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		case <-p.slotFreed:
		}
	}
	return true
}

func (p *WorkerPool) claim(ctx context.Context, n int, after *claimCursor) ([]*TaskRecord, error) {
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
	sql, afterSQL := claimSQL, claimAfterSQL
	switch {
	case len(p.types) == 1:
		sql, afterSQL = claimOneTypeSQL, claimOneTypeAfterSQL
	case len(p.types) > 1 && len(p.types) <= claimTypesMax:
		sql, afterSQL = claimTypesSQL, claimTypesAfterSQL
	}
	args := []any{p.names, p.types, n, timeout}
	if after != nil {
		sql, args = afterSQL, append(args, after.scheduledAt, pgID(after.id))
	}
	recs, err := p.sendClaim(ctx, sql, args, n)
	if err != nil {
		return nil, interpretError("backie: claim tasks", err)
	}
	// RETURNING does not keep the subquery's order: hand tasks out oldest
	// first, and let the last one be the cursor.
	slices.SortFunc(recs, func(a, b *TaskRecord) int {
		if c := a.ScheduledAt.Compare(b.ScheduledAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return recs, nil
}

// sendClaim runs the claim sql after planSQL, in one round trip and one
// transaction, and returns the claimed tasks.
func (p *WorkerPool) sendClaim(ctx context.Context, sql string, args []any, n int) (recs []*TaskRecord, err error) {
	b := &pgx.Batch{}
	b.Queue(planSQL)
	b.Queue(sql, args...)
	br := p.q.pool.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			recs, err = nil, cerr
		}
	}()
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	recs = make([]*TaskRecord, 0, n)
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, rows.Err()
}

// claimStatementTimeout bounds one claim statement.
const claimStatementTimeout = 30 * time.Second

// errorBackoff is the wait after the n-th consecutive database failure of a
// background loop: 100ms doubling up to 5s.
func errorBackoff(n int) time.Duration {
	d := 100 * time.Millisecond << min(max(n-1, 0), 6)
	return min(d, 5*time.Second)
}
