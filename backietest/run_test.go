package backietest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backietest"
)

// TestRunTaskOutcomes: every way an attempt ends, on a RecordingQueue and
// on a PgQueue, reads from the result.
func TestRunTaskOutcomes(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t, nil)
	queues := map[string]backietest.Queue{
		"recording": backietest.NewRecordingQueue(reg),
		"pg":        backie.NewPgQueue(backietest.Pool(t), reg),
	}
	for name, q := range queues {
		t.Run(name, func(t *testing.T) {
			res := backietest.RunTask(t, q, &Job{Do: doSucceed})
			require.Equal(t, backie.OutcomeDone, res.Outcome)
			require.NoError(t, res.Err)
			require.Nil(t, res.Error)

			res = backietest.RunTask(t, q, &Job{Do: doFail, Retries: 3, BackoffMS: 1500})
			require.Equal(t, backie.OutcomeRetry, res.Outcome)
			require.EqualError(t, res.Err, "boom")
			require.Equal(t, backie.ErrorKindError, res.Error.Kind)
			require.Equal(t, 1500*time.Millisecond, res.Delay, "the task's backoff")

			res = backietest.RunTask(t, q, &Job{Do: doFail, Retries: 3}, backietest.RunOptions{Retries: 3})
			require.Equal(t, backie.OutcomeFailed, res.Outcome, "the last attempt fails the task")
			require.Equal(t, 3, res.Error.Retries)

			res = backietest.RunTask(t, q, &Job{Do: doPermanent, Retries: 3})
			require.Equal(t, backie.OutcomeFailed, res.Outcome)
			require.True(t, res.Error.Permanent)

			res = backietest.RunTask(t, q, &Job{Do: doPanic, Retries: 3})
			require.Equal(t, backie.OutcomeRetry, res.Outcome, "a panic is contained")
			require.ErrorIs(t, res.Err, backie.ErrTaskPanicked)
			require.Equal(t, backie.ErrorKindPanic, res.Error.Kind)
			require.Contains(t, res.Error.Stack, "(*Job).Run")

			res = backietest.RunTask(t, q, &Job{Do: doTimeout, TimeoutMS: 50})
			require.Equal(t, backie.OutcomeFailed, res.Outcome)
			require.Equal(t, backie.ErrorKindTimeout, res.Error.Kind)
			require.GreaterOrEqual(t, res.Duration, 50*time.Millisecond)

			res = backietest.RunTask(t, q, &Job{Do: doTimeout}, backietest.RunOptions{Timeout: 20 * time.Millisecond})
			require.Equal(t, backie.ErrorKindTimeout, res.Error.Kind, "RunOptions.Timeout, as Config.TaskTimeout")
			require.Equal(t, 20*time.Millisecond, res.Record.Timeout)

			res = backietest.RunTask(t, q, &Job{Do: doSnooze, N: 5})
			require.Equal(t, backie.OutcomeSnoozed, res.Outcome)
			require.Equal(t, 5*time.Second, res.Delay)
			require.Contains(t, res.String(), "snoozed, again in 5s")
		})
	}
}

// TestRunTaskRecord: Run sees the record a claim gives, RunTask's options
// in it, and middleware wraps it; the task itself is not stored.
func TestRunTaskRecord(t *testing.T) {
	t.Parallel()
	seen := make(chan *backie.TaskRecord, 1)
	clock := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	q := backietest.NewRecordingQueue(newRegistry(t, seen), backietest.RecordingQueueOptions{
		Now: func() time.Time { return clock },
	})
	var wrapped *backie.TaskRecord
	mw := func(ctx context.Context, task backie.Task, rec *backie.TaskRecord, next func(context.Context) error) error {
		wrapped = rec
		return next(ctx)
	}
	res := backietest.RunTask(t, q, &Job{Do: doSucceed, Retries: 5},
		backietest.RunOptions{Retries: 2, Middleware: []backie.RunMiddleware{mw}})
	rec := <-seen
	require.Equal(t, "job", rec.Name)
	require.Equal(t, 1, rec.Attempt)
	require.Equal(t, 2, rec.Retries)
	require.Equal(t, 5, rec.MaxRetries)
	require.Equal(t, clock, rec.CreatedAt, "created, due and claimed at the queue's clock")
	require.Equal(t, clock, rec.ScheduledAt)
	require.Equal(t, clock, *rec.RunningAt)
	require.Equal(t, backie.StateRunning, rec.State())
	require.Equal(t, rec.ID, res.Record.ID)
	require.Equal(t, rec.ID, wrapped.ID)
	require.Empty(t, q.Enqueued(), "RunTask does not enqueue the task")
}

// TestRunTaskFollowUps: a task's follow-ups go to the queue RunTask is
// given: recorded, or stored.
func TestRunTaskFollowUps(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t, nil)
	rq := backietest.NewRecordingQueue(reg)
	res := backietest.RunTask(t, rq, &Job{Do: doFollowUp, N: 7})
	require.Equal(t, backie.OutcomeDone, res.Outcome)
	enq := rq.Enqueued()
	require.Len(t, enq, 1)
	require.Equal(t, &Email{To: "user7@example.com", Subject: "follow-up"}, enq[0].Task)

	pq := backie.NewPgQueue(backietest.Pool(t), reg)
	backietest.RunTask(t, pq, &Job{Do: doFollowUp, N: 8})
	page, err := pq.ListTasks(t.Context(), backie.ListFilter{})
	require.NoError(t, err)
	require.Len(t, page.Tasks, 1, "the follow-up only: RunTask stores nothing")
	require.Equal(t, "email", page.Tasks[0].Name)
}

// TestRunRecord runs a task that was enqueued: as claimed, and without
// changing the queue.
func TestRunRecord(t *testing.T) {
	t.Parallel()
	seen := make(chan *backie.TaskRecord, 1)
	q := backietest.NewRecordingQueue(newRegistry(t, seen))
	rec, err := q.CreateTask(t.Context(), &Job{Do: doSucceed})
	require.NoError(t, err)
	res := backietest.RunRecord(t, q, rec)
	require.Equal(t, backie.OutcomeDone, res.Outcome)
	got := <-seen
	require.Equal(t, rec.ID, got.ID)
	require.Equal(t, 1, got.Attempt)
	require.Zero(t, rec.Attempt, "the caller's record is not changed")
	require.Len(t, q.Tasks(), 1, "RunRecord changes no queue")

	// A record whose name the registry does not know fails for good, as in
	// a pool.
	other := *rec
	other.Name = "gone"
	res = backietest.RunRecord(t, q, &other)
	require.Equal(t, backie.OutcomeFailed, res.Outcome)
	require.Equal(t, backie.ErrorKindDecode, res.Error.Kind)
}

// TestRunTaskFails: what CreateTask refuses fails the test, which stops
// there.
func TestRunTaskFails(t *testing.T) {
	t.Parallel()
	q := backietest.NewRecordingQueue(newRegistry(t, nil))
	requireFails(t, func(tb testing.TB) { backietest.RunTask(tb, q, &Unregistered{}) },
		"backietest: RunTask: backie: create task: task type not registered: *backietest_test.Unregistered")
	requireFails(t, func(tb testing.TB) { backietest.RunTask(tb, nil, &Email{}) }, "backietest: RunTask: nil queue")
	requireFails(t, func(tb testing.TB) { backietest.RunRecord(tb, q, nil) }, "backietest: RunRecord: nil queue or record")
	requirePasses(t, func(tb testing.TB) { backietest.RunTask(tb, q, &Job{Do: doFail}) })
}
