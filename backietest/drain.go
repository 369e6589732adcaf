package backietest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/backie-go/backie"
)

// DrainMaxTasksDefault is the default DrainOptions.MaxTasks.
const DrainMaxTasksDefault = 1000

// DrainOptions tune Drain. The zero value runs every task due now (by the
// database's clock, or by a RecordingQueue's), as a pool with the default
// Config would.
type DrainOptions struct {
	// Now is the test's clock: tasks due by Now run, and a retry or a
	// snooze is due its delay after Now. A Now behind the queue's clock
	// (the database's, or a RecordingQueue's RecordingQueueOptions.Now)
	// counts as the queue's now, so that follow-ups, enqueued at that
	// now, are due too. Pass a fake clock's Now() to run tasks scheduled
	// for later and retries; move the clock and drain again. Defaults to
	// the zero time: the queue's now.
	Now time.Time
	// Types limits the drain to tasks of these types. Defaults to nil:
	// every type.
	Types []backie.TaskType
	// Middleware wraps every attempt, as backie.Config.Middleware does.
	// Defaults to none.
	Middleware []backie.RunMiddleware
	// Retention says which finished tasks stay in the table (or the
	// RecordingQueue), as backie.Config.Retention does. Defaults to
	// backie.RemoveFinished.
	Retention backie.RetentionMode
	// MaxTasks bounds the attempts of one drain: a task that snoozes for
	// no time, or enqueues itself, would keep a drain busy for ever. A task
	// still due after MaxTasks attempts (Drain runs it to find out) fails
	// the test. Defaults to DrainMaxTasksDefault.
	MaxTasks int
}

// Drain runs the due tasks of q, a *backie.PgQueue or a *RecordingQueue,
// one at a time in the test's goroutine, in the order a pool claims them
// (priority, then scheduled_at, then id), each as a worker of a pool would
// (see backie.PgQueue.RunNext), and records how each ended as a pool
// would, until none is due: the follow-ups the tasks enqueue run too, when
// they are due. It returns what ran, in order, each Result with the task's
// record as claimed. Nothing runs concurrently and nothing waits, so a
// drain is deterministic: a retry or a snooze is due its delay after the
// clock, and runs in this drain only if that is still due (Snooze(0), a
// zero backoff).
//
// On a RecordingQueue, the tasks' records change as in a table: a success
// removes the task (or, with backie.KeepAll, marks it done), a failure
// marks it failed (or, with backie.RemoveAll, removes it), a retry or a
// snooze makes it due again later; the follow-ups are recorded in
// Enqueued. Its clock is RecordingQueueOptions.Now, unless opts.Now is
// later.
//
// Drain fails the test when the database fails, or when a task is still
// due after opts.MaxTasks attempts. Tasks of names q's registry does not
// know and tasks of paused types are left alone. The attempts run with
// tb.Context().
func Drain(tb testing.TB, q Queue, opts ...DrainOptions) []*Result {
	tb.Helper()
	var o DrainOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.MaxTasks <= 0 {
		o.MaxTasks = DrainMaxTasksDefault
	}
	var next runNext
	switch q := q.(type) {
	case *backie.PgQueue:
		if q != nil {
			next = func(ctx context.Context) (*backie.TaskRecord, *backie.AttemptResult, error) {
				return runNextPg(ctx, q, o)
			}
		}
	case *RecordingQueue:
		if q != nil {
			next = func(ctx context.Context) (*backie.TaskRecord, *backie.AttemptResult, error) { return q.runNext(ctx, o) }
		}
	case nil:
	default:
		tb.Fatalf("backietest: Drain runs a *backie.PgQueue or a *backietest.RecordingQueue, not %T", q)
		return nil
	}
	if next == nil {
		tb.Fatalf("backietest: Drain: nil queue")
		return nil
	}
	ctx := tb.Context()
	var ran []*Result
	for {
		rec, res, err := next(ctx)
		if err != nil {
			tb.Fatalf("backietest: Drain: after %d tasks: %v", len(ran), err)
			return ran
		}
		if rec == nil {
			return ran
		}
		ran = append(ran, &Result{AttemptResult: *res, Record: rec})
		if len(ran) > o.MaxTasks {
			tb.Fatalf("backietest: Drain: a task is still due after %d attempts (a task that snoozes for no time, "+
				"or enqueues itself, keeps a drain busy; raise DrainOptions.MaxTasks if this is expected). The last ones:\n%s",
				o.MaxTasks, lastResults(ran, 10))
			return ran
		}
	}
}

// runNext runs a queue's next due task and records how it ended: it
// returns the task as claimed and the attempt's result, or a nil task when
// none is due.
type runNext func(ctx context.Context) (*backie.TaskRecord, *backie.AttemptResult, error)

// runNextPg runs q's next task due by o.Now with RunNext. A Now behind the
// database's clock counts as the database's now.
func runNextPg(ctx context.Context, q *backie.PgQueue, o DrainOptions) (*backie.TaskRecord, *backie.AttemptResult, error) {
	now := time.Time{} // the database's now
	// Without a pool, RunNext says what is wrong.
	if !o.Now.IsZero() && q.Pool() != nil {
		var dbNow time.Time
		if err := q.Pool().QueryRow(ctx, sqlNow).Scan(&dbNow); err != nil {
			return nil, nil, fmt.Errorf("read the database's clock: %w", err)
		}
		if o.Now.After(dbNow) {
			now = o.Now
		}
	}
	return q.RunNext(ctx, backie.RunNextOptions{Now: now, Types: o.Types,
		AttemptOptions: backie.AttemptOptions{Middleware: o.Middleware, Retention: o.Retention}})
}

// lastResults lists the last n of ran.
func lastResults(ran []*Result, n int) string {
	var b strings.Builder
	for _, r := range ran[max(0, len(ran)-n):] {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	return strings.TrimRight(b.String(), "\n")
}
