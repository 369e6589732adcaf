package backietest

import (
	"fmt"
	"testing"
	"time"

	"github.com/backie-go/backie"
)

// RunOptions tune RunTask and RunRecord. The zero value runs the task as a
// pool with the default Config would.
type RunOptions struct {
	// Middleware wraps the attempt, the first outermost, as
	// backie.Config.Middleware does in a pool. Defaults to none.
	Middleware []backie.RunMiddleware
	// Timeout, when set, is the attempt's timeout instead of the task's
	// Timeout, as backie.Config.TaskTimeout in a pool. Defaults to 0.
	Timeout time.Duration
	// Retries is how many times the task has been retried before this
	// attempt (RunTask only; RunRecord uses the record's): set it to the
	// task's MaxRetries to see what its last attempt does. Defaults to 0.
	Retries int
}

// Result is how an attempt ended: backie.AttemptResult, with the record the
// task ran with.
//
// What Run did reads from it as follows:
//
//	success                  Outcome == backie.OutcomeDone
//	error (to be retried)    Outcome == backie.OutcomeRetry, Error.Kind == backie.ErrorKindError, Delay the backoff
//	error, no retries left   Outcome == backie.OutcomeFailed, Error.Kind == backie.ErrorKindError
//	permanent failure        Outcome == backie.OutcomeFailed, Error.Permanent
//	timeout                  Error.Kind == backie.ErrorKindTimeout (Outcome Retry or Failed)
//	panic                    Error.Kind == backie.ErrorKindPanic, Error.Stack; Err wraps backie.ErrTaskPanicked
//	snooze                   Outcome == backie.OutcomeSnoozed, Delay the snooze
//	cancelled                Outcome == backie.OutcomeCancelled (Drain on a *backie.PgQueue only: a task cancelled while it ran)
//
// Err is what Run returned.
type Result struct {
	backie.AttemptResult
	// Record is the task as it ran: what backie.RecordFromContext returned
	// in Run.
	Record *backie.TaskRecord
}

// String describes the result for failure messages: the task, the outcome
// and the error.
func (r *Result) String() string {
	s := fmt.Sprintf("%s %s: %s", r.Record.Name, r.Record.ID, r.Outcome)
	if r.Error != nil {
		s += fmt.Sprintf(" (%s: %s)", r.Error.Kind, r.Error.Message)
	}
	if r.Delay > 0 {
		s += fmt.Sprintf(", again in %v", r.Delay)
	}
	return s
}

// RunTask runs one attempt of task in the calling goroutine, as a worker of
// a pool would, without a pool and without storing the task: it validates
// task as CreateTask does (a task CreateTask refuses fails the test), gives
// Run a record (backie.RecordFromContext) with a new id, Attempt 1 and
// opts.Retries, created and claimed at q's clock (a RecordingQueue's
// RecordingQueueOptions.Now, otherwise time.Now), applies the task's timeout, contains a panic, and returns
// how the attempt ended. The task that runs is decoded from task's JSON
// with q's registry, as in a pool: a task registered with a constructor
// gets the dependencies the constructor sets, whatever task holds. Run
// gets q to enqueue follow-up tasks: on a *backie.PgQueue they are stored,
// on a *RecordingQueue recorded.
//
// The attempt runs with tb.Context(), so it is cancelled when the test
// ends. RunTask changes no table: the result says what a pool would
// record.
func RunTask(tb testing.TB, q Queue, task backie.Task, opts ...RunOptions) *Result {
	tb.Helper()
	if q == nil {
		tb.Fatalf("backietest: RunTask: nil queue")
		return nil
	}
	o := runOptions(opts)
	recs, err := newRecords(q.Registry(), clockOf(q)(), true, []backie.Task{task}, nil)
	if err != nil {
		tb.Fatalf("backietest: RunTask: %v", err)
		return nil
	}
	rec := recs[0]
	rec.Retries = o.Retries
	return run(tb, q, rec, o)
}

// RunRecord runs one attempt of the task rec describes, in the calling
// goroutine, as a worker of a pool would: for example a task that
// RequireEnqueued found, or one a RecordingQueue recorded. The task sees a
// copy of rec claimed as a pool would claim it (Attempt one more,
// RunningAt now by q's clock). A record whose name q's registry does not know, or whose
// payload no longer decodes, fails its attempt for good (Outcome Failed,
// Error.Kind backie.ErrorKindDecode), as in a pool.
//
// RunRecord changes neither the table nor the RecordingQueue: the result
// says what a pool would record. Drain runs and records a queue's tasks.
func RunRecord(tb testing.TB, q Queue, rec *backie.TaskRecord, opts ...RunOptions) *Result {
	tb.Helper()
	if q == nil || rec == nil {
		tb.Fatalf("backietest: RunRecord: nil queue or record")
		return nil
	}
	return run(tb, q, copyRecord(rec), runOptions(opts))
}

func runOptions(opts []RunOptions) RunOptions {
	var o RunOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	return o
}

// run claims rec as a pool would (in memory) and runs it.
func run(tb testing.TB, q Queue, rec *backie.TaskRecord, o RunOptions) *Result {
	tb.Helper()
	now := clockOf(q)().Truncate(time.Microsecond)
	rec.RunningAt = &now
	rec.Attempt++
	if o.Timeout > 0 {
		rec.Timeout = o.Timeout
	}
	res := backie.RunAttempt(tb.Context(), q.Registry(), q, rec, backie.AttemptOptions{Middleware: o.Middleware})
	return &Result{AttemptResult: res, Record: rec}
}
