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

// TestDrainFollowUps: a drain runs the due tasks in claim order, then the
// follow-ups they enqueue, until none is due, and records each as a pool
// would.
func TestDrainFollowUps(t *testing.T) {
	t.Parallel()
	q := newPgQueue(t)
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
}

// TestDrainClock: tasks scheduled for later and retries run when the
// test's clock says they are due, not before; the clock only moves time
// forward.
func TestDrainClock(t *testing.T) {
	t.Parallel()
	q := newPgQueue(t)
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

	// A clock behind the database's counts as the database's now: follow-ups
	// enqueued during the drain are due.
	_, err = q.CreateTask(ctx, &Job{Do: doChain, N: 1})
	require.NoError(t, err)
	results = backietest.Drain(t, q, backietest.DrainOptions{Now: clock.Add(-24 * time.Hour)})
	require.Equal(t, []string{"job:done", "job:done"}, ran(t, results))
}

// TestDrainTypes: a drain limited to some types leaves the others.
func TestDrainTypes(t *testing.T) {
	t.Parallel()
	q := newPgQueue(t)
	_, err := q.CreateTask(t.Context(), &Email{To: "a"})
	require.NoError(t, err)
	require.Empty(t, backietest.Drain(t, q, backietest.DrainOptions{Types: []backie.TaskType{"other"}}))
	require.Len(t, backietest.Drain(t, q, backietest.DrainOptions{Types: []backie.TaskType{backie.TaskTypeDefault}}), 1)
}

// TestDrainFails: a task that keeps itself due fails the drain after
// MaxTasks attempts, with the last ones; a database that fails fails it.
func TestDrainFails(t *testing.T) {
	t.Parallel()
	q := newPgQueue(t)
	_, err := q.CreateTask(t.Context(), &Job{Do: doSnooze, N: 0})
	require.NoError(t, err)
	requireFails(t, func(tb testing.TB) { backietest.Drain(tb, q, backietest.DrainOptions{MaxTasks: 5}) },
		"backietest: Drain: a task is still due after 5 attempts", "job", "snoozed")

	empty := backie.NewPgQueue(backietest.Pool(t, backietest.PoolOptions{NoMigrate: true}), newRegistry(t, nil))
	requireFails(t, func(tb testing.TB) { backietest.Drain(tb, empty) },
		"backietest: Drain: after 0 tasks: backie: run next: claim: table is missing")
	requireFails(t, func(tb testing.TB) { backietest.Drain(tb, nil) }, "backietest: Drain: nil queue")
	requireFails(t, func(tb testing.TB) {
		backietest.Drain(tb, backie.NewPgQueue(nil, newRegistry(t, nil)), backietest.DrainOptions{Now: time.Now()})
	}, "backietest: Drain: after 0 tasks: backie: run next: invalid configuration")

	_, err = q.RemoveAllTasks(t.Context())
	require.NoError(t, err)
	requirePasses(t, func(tb testing.TB) { backietest.Drain(tb, q, backietest.DrainOptions{MaxTasks: 1}) })
}
