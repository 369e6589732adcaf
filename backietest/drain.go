package backietest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/backie-go/backie"
)

// DrainMaxTasksDefault is the default DrainOptions.MaxTasks.
const DrainMaxTasksDefault = 1000

// DrainOptions tune Drain. The zero value runs every task due by the
// database's clock, as a pool with the default Config would.
type DrainOptions struct {
	// Now is the test's clock: tasks due by Now run, and a retry or a
	// snooze is due its delay after Now. A Now behind the database's clock
	// counts as the database's now, so that follow-ups, enqueued at the
	// database's now(), are due too. Pass a fake clock's Now() to run
	// tasks scheduled for later and retries; move the clock and drain
	// again. Defaults to the zero time: the database's now.
	Now time.Time
	// Types limits the drain to tasks of these types. Defaults to nil:
	// every type.
	Types []backie.TaskType
	// Middleware wraps every attempt, as backie.Config.Middleware does.
	// Defaults to none.
	Middleware []backie.RunMiddleware
	// Retention says which finished tasks stay in the table, as
	// backie.Config.Retention does. Defaults to backie.RemoveFinished.
	Retention backie.RetentionMode
	// MaxTasks bounds the attempts of one drain: a task that snoozes for
	// no time, or enqueues itself, would keep a drain busy for ever. A task
	// still due after MaxTasks attempts (Drain runs it to find out) fails
	// the test. Defaults to DrainMaxTasksDefault.
	MaxTasks int
}

// Drain runs the due tasks of q one at a time in the test's goroutine, in
// the order a pool claims them (priority, then scheduled_at, then id),
// each as a worker of a pool would (see backie.PgQueue.RunNext), and
// records how each ended as a pool would, until none is due: the
// follow-ups the tasks enqueue run too, when they are due. It returns what
// ran, in order. Nothing runs concurrently and nothing waits, so a drain
// is deterministic: a retry or a snooze is due its delay after the clock,
// and runs in this drain only if that is still due (Snooze(0), a zero
// backoff).
//
// Drain fails the test when the database fails, or when a task is still
// due after opts.MaxTasks attempts. Tasks of names q's registry does not know
// and tasks of paused types are left alone. The attempts run with
// tb.Context().
func Drain(tb testing.TB, q *backie.PgQueue, opts ...DrainOptions) []*Result {
	tb.Helper()
	if q == nil {
		tb.Fatalf("backietest: Drain: nil queue")
		return nil
	}
	var o DrainOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.MaxTasks <= 0 {
		o.MaxTasks = DrainMaxTasksDefault
	}
	ctx := tb.Context()
	var ran []*Result
	for {
		now := time.Time{} // the database's now
		// Without a pool, RunNext says what is wrong.
		if !o.Now.IsZero() && q.Pool() != nil {
			var dbNow time.Time
			if err := q.Pool().QueryRow(ctx, sqlNow).Scan(&dbNow); err != nil {
				tb.Fatalf("backietest: Drain: read the database's clock: %v", err)
				return ran
			}
			if o.Now.After(dbNow) {
				now = o.Now
			}
		}
		rec, res, err := q.RunNext(ctx, backie.RunNextOptions{Now: now, Types: o.Types,
			AttemptOptions: backie.AttemptOptions{Middleware: o.Middleware, Retention: o.Retention}})
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

// lastResults lists the last n of ran.
func lastResults(ran []*Result, n int) string {
	var b strings.Builder
	for _, r := range ran[max(0, len(ran)-n):] {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	return strings.TrimRight(b.String(), "\n")
}
