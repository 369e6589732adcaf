package backie

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Outcome says what an attempt did to its task.
type Outcome string

// Outcomes of an attempt.
const (
	// OutcomeDone: Run succeeded.
	OutcomeDone Outcome = "done"
	// OutcomeRetry: the attempt failed; the task runs again after
	// AttemptResult.Delay.
	OutcomeRetry Outcome = "retry"
	// OutcomeFailed: the attempt failed the task for good (no retries
	// left, Permanent, or a payload that does not decode).
	OutcomeFailed Outcome = "failed"
	// OutcomeSnoozed: Run returned Snooze; the task runs again after
	// AttemptResult.Delay without using a retry.
	OutcomeSnoozed Outcome = "snoozed"
	// OutcomeCancelled: the task was cancelled while it ran.
	OutcomeCancelled Outcome = "cancelled"
	// OutcomeReleased: a hard stop interrupted the attempt; the task is
	// Ready again without using a retry.
	OutcomeReleased Outcome = "released"
)

var outcomes = [...]Outcome{
	verdictDone: OutcomeDone, verdictRetry: OutcomeRetry, verdictFailed: OutcomeFailed,
	verdictReleased: OutcomeReleased, verdictSnoozed: OutcomeSnoozed, verdictCancelled: OutcomeCancelled,
}

// AttemptResult is how one attempt of a task ended, as a worker pool
// records it.
type AttemptResult struct {
	Outcome Outcome
	// Err is what Run returned; for a panic, an error wrapping
	// ErrTaskPanicked with the panic's value; for a payload that does not
	// decode, ErrDecodePayload.
	Err error
	// Error is what the task's error_info holds after a failure (Retry or
	// Failed): its Kind says timeout, panic, error or decode.
	Error *ErrorInfo
	// Delay is the wait before the next attempt (Retry, Snoozed).
	Delay time.Duration
	// Duration is how long the attempt ran.
	Duration time.Duration
}

// AttemptOptions tune RunAttempt and PgQueue.RunNext.
type AttemptOptions struct {
	// Middleware wraps the attempt, as Config.Middleware does in a pool.
	Middleware []RunMiddleware
	// Retention decides, with RunNext, what happens to the finished task's
	// row, as Config.Retention does in a pool. Defaults to RemoveFinished.
	Retention RetentionMode
}

// RunAttempt runs one attempt of the task rec describes, in the calling
// goroutine, as a worker of a pool would: the task is decoded from
// rec.Payload with reg, gets rec (a copy) through RecordFromContext and
// rec.Timeout as its timeout, runs through opts.Middleware, and a panic is
// contained. q is what Run receives to enqueue follow-up tasks. It changes
// no table: it returns how the attempt ended, what a pool would record.
// Test kits use it to run a task without a pool.
func RunAttempt(ctx context.Context, reg *Registry, q Queue, rec *TaskRecord, opts AttemptOptions) AttemptResult {
	w := &workers{reg: reg, queue: q, mw: opts.Middleware, log: discardLogger}
	a := w.execute(ctx, rec)
	d := decide(a, opts.Retention, backoffOf(a.task), time.Now())
	return AttemptResult{Outcome: outcomes[d.verdict], Err: a.err, Error: d.info, Delay: d.delay, Duration: a.runFor}
}

// RunNextOptions tune PgQueue.RunNext.
type RunNextOptions struct {
	AttemptOptions
	// Now is the time tasks must be due by; zero is the database's now.
	// A test that moves its own clock forward passes it, so that tasks
	// scheduled for later, and retries, become due.
	Now time.Time
	// Types limits RunNext to tasks of these types; empty: every type.
	Types []TaskType
}

// RunNext claims the next task due by opts.Now (the database's now when
// zero) whose name q's registry knows, in claim order, runs it in the
// calling goroutine as a worker of a pool would (see RunAttempt), with q
// as its Queue, and records how it ended as a pool would; a retry or a
// snooze is due its delay after opts.Now. It returns the
// task as claimed and the attempt's result, or a nil task when none is
// due. Paused types are left alone. Test kits run a queue's tasks with it,
// one at a time, deterministically; a pool's workers do the same
// concurrently.
func (q *PgQueue) RunNext(ctx context.Context, opts RunNextOptions) (*TaskRecord, *AttemptResult, error) {
	if err := q.check(ctx); err != nil {
		return nil, nil, opError("run next", err)
	}
	var types []string
	for _, t := range opts.Types {
		if err := validTaskType(t); err != nil {
			return nil, nil, opError("run next", err)
		}
		types = append(types, string(t))
	}
	now := any(nil)
	if !opts.Now.IsZero() {
		now = opts.Now
	}
	var cur cursors
	cur.reset()
	b := &pgx.Batch{}
	b.Queue(sqlPlanSettings)
	b.Queue(sqlClaimDueBy, q.reg.Names(), types, 1, nil, nil, priorities, cur.at[:], cur.id[:], now)
	recs, claimedAt, err := sendClaim(ctx, q.pool, b, 1)
	if err != nil {
		return nil, nil, opError("run next: claim", err)
	}
	if len(recs) == 0 {
		return nil, nil, nil
	}
	rec := recs[0]
	w := &workers{reg: q.reg, queue: q, mw: opts.Middleware, log: discardLogger}
	a := w.execute(ctx, rec)
	d := decide(a, opts.Retention, backoffOf(a.task), time.Now())
	if d.change.delayMS != nil && !opts.Now.IsZero() {
		// A retry or a snooze is due its delay after the test's clock,
		// not the database's.
		*d.change.delayMS += opts.Now.Sub(claimedAt).Milliseconds()
	}
	if err := writeRowChanges(context.WithoutCancel(ctx), q.pool, []rowChange{d.change}); err != nil {
		return rec, nil, opError("run next: finish", err)
	}
	return rec, &AttemptResult{Outcome: outcomes[d.verdict], Err: a.err, Error: d.info, Delay: d.delay, Duration: a.runFor}, nil
}
