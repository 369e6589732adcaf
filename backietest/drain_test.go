package backietest_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backietest"
)

// ran returns the name and the outcome of each task that ran, in order.
func ran(t *testing.T, results []*backietest.Result) []string {
	t.Helper()
	var out []string
	for _, r := range results {
		out = append(out, r.Record.Name+":"+string(r.Outcome))
	}
	return out
}

// drainQueues returns a queue of each kind Drain runs, with newRegistry's
// tasks: on a fresh schema, and in memory at time.Now.
func drainQueues(t *testing.T) map[string]backietest.Queue {
	return map[string]backietest.Queue{
		"pg":        newPgQueue(t),
		"recording": backietest.NewRecordingQueue(newRegistry(t, nil)),
	}
}

// TestDrainFollowUps: a drain runs the due tasks in claim order, then the
// follow-ups they enqueue, until none is due, and records each as a pool
// would; on a table and on a recording queue alike.
func TestDrainFollowUps(t *testing.T) {
	t.Parallel()
	for name, q := range drainQueues(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			_, err := q.CreateTask(ctx, &Job{Do: doChain, N: 2}, backie.WithPriority(backie.PriorityLow))
			require.NoError(t, err)
			_, err = q.CreateTask(ctx, &Job{Do: doFollowUp, N: 1}, backie.WithPriority(backie.PriorityUrgent))
			require.NoError(t, err)

			results := backietest.Drain(t, q)
			require.Equal(t, []string{"job:done", "email:done", "job:done", "job:done", "job:done"}, ran(t, results),
				"the urgent task first, then its follow-up (default priority) before the low chain, then the chain's links")
			require.Equal(t, backie.PriorityLow, results[2].Record.Priority, "the chain's first link, enqueued low")
			backietest.RequireNotEnqueued[*Job](t, q)
			require.Empty(t, backietest.Drain(t, q), "nothing is left")
		})
	}
}

// TestDrainClock: tasks scheduled for later and retries run when the
// test's clock says they are due, not before; the clock only moves time
// forward.
func TestDrainClock(t *testing.T) {
	t.Parallel()
	for name, q := range drainQueues(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			_, err := q.CreateTask(ctx, &Email{To: "later@example.com"}, backie.RunAfter(time.Hour))
			require.NoError(t, err)
			_, err = q.CreateTask(ctx, &Job{Do: doFail, Retries: 1, BackoffMS: 60_000})
			require.NoError(t, err)

			clock := time.Now()
			keep := backie.KeepAll
			results := backietest.Drain(t, q, backietest.DrainOptions{Now: clock, Retention: keep})
			require.Equal(t, []string{"job:retry"}, ran(t, results), "the email is due in an hour")
			require.Equal(t, time.Minute, results[0].Delay)
			require.Empty(t, backietest.Drain(t, q, backietest.DrainOptions{Now: clock.Add(59 * time.Second)}),
				"the retry is due a minute after the clock")

			results = backietest.Drain(t, q, backietest.DrainOptions{Now: clock.Add(61 * time.Second), Retention: keep})
			require.Equal(t, []string{"job:failed"}, ran(t, results))
			backietest.RequireEnqueued[*Job](t, q, backietest.Want{State: backie.StateFailed})

			results = backietest.Drain(t, q, backietest.DrainOptions{Now: clock.Add(2 * time.Hour), Retention: keep})
			require.Equal(t, []string{"email:done"}, ran(t, results))
			backietest.RequireEnqueued[*Email](t, q, backietest.Want{State: backie.StateDone})

			// A clock behind the queue's counts as the queue's now: follow-ups
			// enqueued during the drain are due.
			_, err = q.CreateTask(ctx, &Job{Do: doChain, N: 1})
			require.NoError(t, err)
			results = backietest.Drain(t, q, backietest.DrainOptions{Now: clock.Add(-24 * time.Hour)})
			require.Equal(t, []string{"job:done", "job:done"}, ran(t, results))
		})
	}
}

// TestDrainTypes: a drain limited to some types leaves the others.
func TestDrainTypes(t *testing.T) {
	t.Parallel()
	for name, q := range drainQueues(t) {
		t.Run(name, func(t *testing.T) {
			_, err := q.CreateTask(t.Context(), &Email{To: "a"})
			require.NoError(t, err)
			require.Empty(t, backietest.Drain(t, q, backietest.DrainOptions{Types: []backie.TaskType{"other"}}))
			require.Len(t, backietest.Drain(t, q, backietest.DrainOptions{Types: []backie.TaskType{backie.TaskTypeDefault}}), 1)
		})
	}
}

// TestDrainRecordingQueue: on a recording queue with a fake clock, each
// outcome changes the task's record as a pool's write changes its row,
// exactly at the clock, and the results hold the records as claimed.
func TestDrainRecordingQueue(t *testing.T) {
	t.Parallel()
	clock := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	q := backietest.NewRecordingQueue(newRegistry(t, nil), backietest.RecordingQueueOptions{
		Now: func() time.Time { return clock },
	})
	ctx := t.Context()
	retried, err := q.CreateTask(ctx, &Job{Do: doFail, Retries: 1, BackoffMS: 60_000})
	require.NoError(t, err)
	snoozed, err := q.CreateTask(ctx, &Job{Do: doSnooze, N: 30})
	require.NoError(t, err)
	done, err := q.CreateTask(ctx, &Job{Do: doFollowUp, N: 1})
	require.NoError(t, err)
	later, err := q.CreateTask(ctx, &Email{To: "later@example.com"}, backie.RunAt(clock.Add(time.Hour)))
	require.NoError(t, err)

	keep := backietest.DrainOptions{Retention: backie.KeepAll}
	results := backietest.Drain(t, q, keep)
	require.Equal(t, []string{"job:retry", "job:snoozed", "job:done", "email:done"}, ran(t, results),
		"oldest first at one priority, then the follow-up; not the email due in an hour")
	for _, r := range results {
		require.Equal(t, clock, *r.Record.RunningAt, "claimed at the clock")
		require.Equal(t, 1, r.Record.Attempt)
	}

	find := func(id backie.TaskID) *backie.TaskRecord {
		rec, err := q.FindTask(ctx, id)
		require.NoError(t, err)
		return rec
	}
	rec := find(retried.ID)
	require.Equal(t, backie.StateScheduled, rec.StateAt(clock))
	require.Equal(t, clock.Add(time.Minute), rec.ScheduledAt, "due its backoff after the clock")
	require.Equal(t, 1, rec.Retries)
	require.Nil(t, rec.RunningAt)
	require.Equal(t, "boom", rec.Error.Message)
	require.Equal(t, backie.ErrorKindError, rec.Error.Kind)

	rec = find(snoozed.ID)
	require.Equal(t, clock.Add(30*time.Second), rec.ScheduledAt, "due its snooze after the clock")
	require.Zero(t, rec.Retries, "a snooze uses no retry")
	require.Nil(t, rec.Error)

	rec = find(done.ID)
	require.Equal(t, backie.StateDone, rec.StateAt(clock), "kept, with KeepAll")
	require.Equal(t, clock, *rec.DoneAt)
	require.Equal(t, clock, *rec.RunningAt, "the last attempt's start")
	require.Equal(t, backie.StateScheduled, find(later.ID).StateAt(clock))
	enq := q.Enqueued()
	require.Len(t, enq, 5)
	require.Equal(t, &Email{To: "user1@example.com", Subject: "follow-up"}, enq[4].Task, "the follow-up is recorded")

	// The clock moves: the snooze is due, and snoozes again.
	clock = clock.Add(30 * time.Second)
	require.Equal(t, []string{"job:snoozed"}, ran(t, backietest.Drain(t, q)))
	require.Equal(t, clock.Add(30*time.Second), find(snoozed.ID).ScheduledAt)
	require.NoError(t, q.RemoveTask(ctx, snoozed.ID))

	// Then the retry, which fails the task for good: by default a failed
	// task stays, and a done one goes.
	clock = clock.Add(30 * time.Second)
	followUp, err := q.CreateTask(ctx, &Email{To: "now@example.com"})
	require.NoError(t, err)
	results = backietest.Drain(t, q)
	require.Equal(t, []string{"job:failed", "email:done"}, ran(t, results))
	require.Equal(t, 2, results[0].Record.Attempt)
	rec = find(retried.ID)
	require.Equal(t, backie.StateFailed, rec.StateAt(clock))
	require.Equal(t, clock, *rec.DoneAt)
	require.Equal(t, 1, rec.Error.Retries)
	_, err = q.FindTask(ctx, followUp.ID)
	require.ErrorIs(t, err, backie.ErrNotFound, "removed once done (RemoveFinished)")

	// DrainOptions.Now later than the queue's clock runs what is due by it.
	require.Equal(t, []string{"email:done"},
		ran(t, backietest.Drain(t, q, backietest.DrainOptions{Now: clock.Add(time.Hour), Retention: backie.RemoveAll})))
	_, err = q.FindTask(ctx, later.ID)
	require.ErrorIs(t, err, backie.ErrNotFound)
	require.Len(t, q.Tasks(), 3, "the failed job, and the job and its follow-up done with KeepAll")
}

// TestDrainFails: a task that keeps itself due fails the drain after
// MaxTasks attempts, with the last ones; a database that fails fails it,
// and so does a queue Drain cannot run.
func TestDrainFails(t *testing.T) {
	t.Parallel()
	for name, q := range drainQueues(t) {
		t.Run(name, func(t *testing.T) {
			_, err := q.CreateTask(t.Context(), &Job{Do: doSnooze, N: 0})
			require.NoError(t, err)
			requireFails(t, func(tb testing.TB) { backietest.Drain(tb, q, backietest.DrainOptions{MaxTasks: 5}) },
				"backietest: Drain: a task is still due after 5 attempts", "job", "snoozed")
			_, err = q.RemoveAllTasks(t.Context())
			require.NoError(t, err)
			requirePasses(t, func(tb testing.TB) { backietest.Drain(tb, q, backietest.DrainOptions{MaxTasks: 1}) })
		})
	}

	empty := backie.NewPgQueue(backietest.Pool(t, backietest.PoolOptions{NoMigrate: true}), newRegistry(t, nil))
	requireFails(t, func(tb testing.TB) { backietest.Drain(tb, empty) },
		"backietest: Drain: after 0 tasks: backie: run next: claim: table is missing")
	requireFails(t, func(tb testing.TB) { backietest.Drain(tb, nil) }, "backietest: Drain: nil queue")
	requireFails(t, func(tb testing.TB) { backietest.Drain(tb, (*backie.PgQueue)(nil)) }, "backietest: Drain: nil queue")
	requireFails(t, func(tb testing.TB) { backietest.Drain(tb, (*backietest.RecordingQueue)(nil)) }, "backietest: Drain: nil queue")
	requireFails(t, func(tb testing.TB) {
		backietest.Drain(tb, backie.NewPgQueue(nil, newRegistry(t, nil)), backietest.DrainOptions{Now: time.Now()})
	}, "backietest: Drain: after 0 tasks: backie: run next: invalid configuration")
	requireFails(t, func(tb testing.TB) { backietest.Drain(tb, new(backietest.RecordingQueue)) },
		"backietest: Drain: after 0 tasks: backie: run next: invalid configuration: RecordingQueue needs a registry")
	requireFails(t, func(tb testing.TB) { backietest.Drain(tb, otherQueue{newPgQueue(t)}) },
		"backietest: Drain runs a *backie.PgQueue or a *backietest.RecordingQueue, not backietest_test.otherQueue")
}

// TestDrainRecordsAsPgQueue: what a drain leaves of each outcome on a
// recording queue is what it leaves in a table, but for the ids and the
// times, which follow the clock.
func TestDrainRecordsAsPgQueue(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t, nil)
	clock := time.Now().Add(time.Hour) // ahead of the database's clock, so that it counts
	real := backie.NewPgQueue(backietest.Pool(t), reg)
	rec := backietest.NewRecordingQueue(reg, backietest.RecordingQueueOptions{Now: func() time.Time { return clock }})
	jobs := []backie.Task{
		&Job{Do: doSucceed, N: 1},
		&Job{Do: doFail, Retries: 2, BackoffMS: 5000},
		&Job{Do: doFail, Retries: 0},
		&Job{Do: doPermanent, Retries: 2},
		&Job{Do: doPanic, Retries: 0},
		&Job{Do: doTimeout, TimeoutMS: 20},
		&Job{Do: doSnooze, N: 10},
	}
	drained := map[string][]*backie.TaskRecord{}
	for name, q := range map[string]backietest.Queue{"pg": real, "recording": rec} {
		_, err := q.CreateTasks(t.Context(), jobs)
		require.NoError(t, err)
		results := backietest.Drain(t, q, backietest.DrainOptions{Now: clock, Retention: backie.KeepAll})
		require.Len(t, results, len(jobs), name)
		for _, r := range results {
			got, err := q.FindTask(t.Context(), r.Record.ID)
			require.NoError(t, err)
			drained[name] = append(drained[name], got)
		}
	}
	for i, w := range drained["pg"] {
		g := drained["recording"][i]
		require.JSONEq(t, string(w.Payload), string(g.Payload))
		require.Equal(t, w.StateAt(clock), g.StateAt(clock), "%s", w.Payload)
		// Due when created, or, after a retry or a snooze, some time after
		// the clock (and the time the database's attempt took).
		due := func(r *backie.TaskRecord) time.Duration {
			if r.ScheduledAt.Equal(r.CreatedAt) {
				return 0
			}
			return r.ScheduledAt.Sub(clock)
		}
		require.InDelta(t, due(w), due(g), float64(2*time.Second), "%s: due after the clock", w.Payload)
		require.Equal(t, w.DoneAt != nil, g.DoneAt != nil)
		require.Equal(t, w.RunningAt != nil, g.RunningAt != nil)
		require.Equal(t, w.Error == nil, g.Error == nil)
		if w.Error != nil {
			require.Equal(t, w.Error.Stack != "", g.Error.Stack != "")
			we, ge := *w.Error, *g.Error
			we.Stack, ge.Stack, we.At, ge.At = "", "", time.Time{}, time.Time{}
			require.Equal(t, we, ge)
		}
		// The rest alike: the ids, retries, attempts, priority, timeout,
		// process (none: no pool ran them) and metadata.
		wr, gr := *w, *g
		wr.ID, wr.Payload, wr.CreatedAt, wr.ScheduledAt, wr.RunningAt, wr.DoneAt, wr.Error =
			gr.ID, gr.Payload, gr.CreatedAt, gr.ScheduledAt, gr.RunningAt, gr.DoneAt, gr.Error
		require.Equal(t, wr, gr)
	}
}
