package backie_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// Tests of running one task: retries, backoff, panics, timeouts, payloads
// that no longer decode, and the record in the task's context.

// TestWorkerRetriesUntilFailed: a task that always fails runs 1+MaxRetries
// times and ends Failed with its last error.
func TestWorkerRetriesUntilFailed(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	var runs atomic.Int64
	env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, task *wpTask) error {
		n := runs.Add(1)
		return fmt.Errorf("always fails (run %d)", n)
	})
	task := env.task(1)
	task.Retries, task.BackoffMS = 3, 1
	rec := env.create(t, task)[0]
	require.Equal(t, 3, rec.MaxRetries)

	wpStart(t, env.q, backie.Config{Workers: 2, Retention: backie.KeepAll})
	got := env.eventually(t, rec.ID, wpFinished, "task never finished")
	require.Equal(t, backie.StateFailed, got.State())
	require.Equal(t, int64(4), runs.Load())
	require.Equal(t, 3, got.Retries)
	require.Equal(t, 4, got.Attempt)
	require.NotNil(t, got.DoneAt)
	require.NotNil(t, got.Error)
	require.Contains(t, got.Error.Message, "always fails (run 4)")
	require.Equal(t, backie.ErrorKindError, got.Error.Kind)
	require.Equal(t, 3, got.Error.Retries)
	require.False(t, got.Error.At.IsZero())
	require.Empty(t, got.Error.Stack)
}

// TestWorkerNoRetries: MaxRetries 0 means one run, then Failed.
func TestWorkerNoRetries(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	var runs atomic.Int64
	env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error {
		runs.Add(1)
		return errors.New("nope")
	})
	rec := env.create(t, env.task(1))[0]
	wpStart(t, env.q, backie.Config{Workers: 1})
	got := env.eventually(t, rec.ID, wpFinished, "task never finished")
	require.Equal(t, backie.StateFailed, got.State())
	require.Equal(t, int64(1), runs.Load())
	require.Zero(t, got.Retries)
}

// TestWorkerBackoffMovesScheduledAt: after a failure the task waits
// Backoff(0) in state Scheduled.
func TestWorkerBackoffMovesScheduledAt(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	var runs atomic.Int64
	env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error {
		runs.Add(1)
		return errors.New("try again later")
	})
	task := env.task(1)
	task.Retries, task.BackoffMS = 5, time.Hour.Milliseconds()
	rec := env.create(t, task)[0]

	wpStart(t, env.q, backie.Config{Workers: 1})
	got := env.eventually(t, rec.ID, func(r *backie.TaskRecord) bool { return r.Retries == 1 }, "task never retried")
	require.Equal(t, backie.StateScheduled, got.State())
	require.Nil(t, got.RunningAt)
	require.Nil(t, got.DoneAt)
	require.NotNil(t, got.Error)
	require.Contains(t, got.Error.Message, "try again later")
	require.Zero(t, got.Error.Retries)
	// scheduled_at = now() of the finishing write + 1h, measured by the
	// database's clock.
	var inSec float64
	require.NoError(t, db.QueryRow(context.Background(),
		`SELECT extract(epoch FROM scheduled_at - now())::float8 FROM backie_tasks WHERE id = $1`, rec.ID).Scan(&inSec))
	require.InDelta(t, time.Hour.Seconds()-5, inSec, 5, "scheduled_at should be about now+1h")
	require.Equal(t, int64(1), runs.Load())
	require.WithinDuration(t, time.Now().Add(time.Hour), got.ScheduledAt, time.Minute)
}

// TestWorkerSuccessAfterRetryClearsError: a task that fails once and then
// succeeds is Done, with no error left (the original's bug is not ported).
func TestWorkerSuccessAfterRetryClearsError(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	var runs atomic.Int64
	env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, _ *wpTask) error {
		runs.Add(1)
		rec, _ := backie.RecordFromContext(ctx)
		if rec.Retries == 0 {
			return errors.New("first attempt fails")
		}
		return nil
	})
	task := env.task(1)
	task.Retries, task.BackoffMS = 3, 1
	rec := env.create(t, task)[0]

	wpStart(t, env.q, backie.Config{Workers: 1, Retention: backie.KeepAll})
	got := env.eventually(t, rec.ID, wpFinished, "task never finished")
	require.Equal(t, backie.StateDone, got.State())
	require.Nil(t, got.Error)
	require.Equal(t, 1, got.Retries)
	require.Equal(t, int64(2), runs.Load())
	require.Equal(t, int64(1), env.count(t,
		`SELECT count(*) FROM backie_tasks WHERE id = $1 AND error_info IS NULL AND done_at IS NOT NULL`, rec.ID))
}

// TestWorkerRecoversPanics: a panicking task fails with kind "panic", its
// value and stack; the (only) worker goes on running tasks.
func TestWorkerRecoversPanics(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	var runs wpRuns
	env := wpNewEnv(t, db, func(_ context.Context, _ backie.Queue, task *wpTask) error {
		runs.add(task.N)
		switch task.N {
		case 0:
			panic("kaboom-value")
		case 1:
			panic(fmt.Errorf("kaboom-error"))
		}
		return nil
	})
	retried := env.task(1)
	retried.Retries, retried.BackoffMS = 1, 1
	recs := env.create(t, env.task(0), retried)

	wp, _ := wpStart(t, env.q, backie.Config{Workers: 1})
	for i, want := range []string{"kaboom-value", "kaboom-error"} {
		got := env.eventually(t, recs[i].ID, wpFinished, "panicking task never finished")
		require.Equal(t, backie.StateFailed, got.State())
		require.Equal(t, backie.ErrorKindPanic, got.Error.Kind)
		require.Contains(t, got.Error.Message, want)
		require.Contains(t, got.Error.Message, backie.ErrTaskPanicked.Error())
		require.NotEmpty(t, got.Error.Stack)
		require.Contains(t, got.Error.Stack, "wpTask).Run")
		require.Equal(t, i, got.Retries)
	}
	require.Equal(t, 2, runs.get(1), "a panic follows the retry rules")

	// The worker survived.
	more := env.create(t, env.task(2), env.task(3), env.task(4))
	for _, rec := range more {
		env.eventuallyGone(t, rec.ID)
	}
	for n := 2; n <= 4; n++ {
		require.Equal(t, 1, runs.get(n), "runs of task %d", n)
	}
	select {
	case <-wp.Done():
		t.Fatal("the pool stopped")
	default:
	}
}

// TestWorkerTimeouts: a task that overruns its timeout gets a cancelled
// context, fails with kind "timeout" and follows the retry rules;
// Config.TaskTimeout replaces the task's own timeout.
func TestWorkerTimeouts(t *testing.T) {
	t.Parallel()

	t.Run("task timeout", func(t *testing.T) {
		t.Parallel()
		db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
		var runs atomic.Int64
		causes := make(chan error, 4)
		env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, _ *wpTask) error {
			runs.Add(1)
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return ctx.Err()
		})
		task := env.task(1)
		task.TimeoutMS, task.Retries, task.BackoffMS = 50, 1, 1
		rec := env.create(t, task)[0]
		require.Equal(t, 50*time.Millisecond, rec.Timeout)

		wpStart(t, env.q, backie.Config{Workers: 1, Retention: backie.KeepAll})
		got := env.eventually(t, rec.ID, wpFinished, "task never finished")
		require.Equal(t, backie.StateFailed, got.State())
		require.Equal(t, int64(2), runs.Load(), "one run and one retry")
		require.Equal(t, 1, got.Retries)
		require.Equal(t, backie.ErrorKindTimeout, got.Error.Kind)
		require.Contains(t, got.Error.Message, backie.ErrTaskTimeout.Error())
		require.ErrorIs(t, wpRecv(t, causes, "cause"), backie.ErrTaskTimeout)
	})

	t.Run("returning the timeout cause", func(t *testing.T) {
		t.Parallel()
		db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
		env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, _ *wpTask) error {
			<-ctx.Done()
			return fmt.Errorf("gave up: %w", context.Cause(ctx))
		})
		task := env.task(1)
		task.TimeoutMS = 30
		rec := env.create(t, task)[0]
		wpStart(t, env.q, backie.Config{Workers: 1})
		got := env.eventually(t, rec.ID, wpFinished, "task never finished")
		require.Equal(t, backie.ErrorKindTimeout, got.Error.Kind)
		require.Contains(t, got.Error.Message, "gave up")
	})

	t.Run("pool timeout shortens", func(t *testing.T) {
		t.Parallel()
		db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
		deadlines := make(chan time.Duration, 2)
		env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, _ *wpTask) error {
			d, _ := ctx.Deadline()
			deadlines <- time.Until(d)
			<-ctx.Done()
			return ctx.Err()
		})
		task := env.task(1)
		task.TimeoutMS = time.Hour.Milliseconds()
		rec := env.create(t, task)[0]
		wpStart(t, env.q, backie.Config{Workers: 1, TaskTimeout: 50 * time.Millisecond})
		got := env.eventually(t, rec.ID, wpFinished, "task never finished")
		require.Equal(t, backie.StateFailed, got.State())
		require.Equal(t, backie.ErrorKindTimeout, got.Error.Kind)
		require.Equal(t, 50*time.Millisecond, got.Timeout, "the claim stores the pool's timeout")
		require.LessOrEqual(t, wpRecv(t, deadlines, "deadline"), 50*time.Millisecond)
	})

	t.Run("pool timeout lengthens", func(t *testing.T) {
		t.Parallel()
		db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
		env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, _ *wpTask) error {
			// Outlive the task's own 20ms timeout.
			timer := time.NewTimer(200 * time.Millisecond)
			defer timer.Stop()
			select {
			case <-timer.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		task := env.task(1)
		task.TimeoutMS = 20
		rec := env.create(t, task)[0]
		wpStart(t, env.q, backie.Config{Workers: 1, Retention: backie.KeepAll, TaskTimeout: time.Minute})
		got := env.eventually(t, rec.ID, wpFinished, "task never finished")
		require.Equal(t, backie.StateDone, got.State())
		require.Nil(t, got.Error)
		require.Equal(t, time.Minute, got.Timeout)
	})
}

// TestWorkerUndecodablePayload: a stored payload that no longer decodes
// fails its task at once (kind "decode", permanent), whatever its retries,
// and the worker goes on.
func TestWorkerUndecodablePayload(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	var runs wpRuns
	env := wpNewEnv(t, db, func(_ context.Context, _ backie.Queue, task *wpTask) error {
		runs.add(task.N)
		return nil
	})
	t1, t2 := env.task(1), env.task(2)
	t1.Retries, t2.Retries = 20, 20
	recs := env.create(t, t1, t2)
	ctx := context.Background()
	_, err := db.Exec(ctx, `UPDATE backie_tasks SET payload = '"garbage"' WHERE id = $1`, recs[0].ID)
	require.NoError(t, err)
	_, err = db.Exec(ctx, `UPDATE backie_tasks SET payload = '{"key": "x", "n": "not a number"}' WHERE id = $1`, recs[1].ID)
	require.NoError(t, err)

	wpStart(t, env.q, backie.Config{Workers: 1})
	for _, rec := range recs {
		got := env.eventually(t, rec.ID, wpFinished, "task never finished")
		require.Equal(t, backie.StateFailed, got.State())
		require.Equal(t, backie.ErrorKindDecode, got.Error.Kind)
		require.True(t, got.Error.Permanent)
		require.Zero(t, got.Retries, "not retried")
		require.Contains(t, got.Error.Message, backie.ErrDecodePayload.Error())
		require.Contains(t, got.Error.Message, "wp_task")
	}
	require.Zero(t, runs.total())

	// The worker goes on.
	good := env.create(t, env.task(3))[0]
	env.eventuallyGone(t, good.ID)
	require.Equal(t, 1, runs.get(3))
}

// TestWorkerRecordFromContext: Run sees its task's record, with the
// retries made so far.
func TestWorkerRecordFromContext(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	seen := make(chan backie.TaskRecord, 4)
	env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, task *wpTask) error {
		rec, ok := backie.RecordFromContext(ctx)
		if !ok {
			return errors.New("no record in the task's context")
		}
		seen <- *rec
		if rec.Retries < 2 {
			return fmt.Errorf("fail %d", rec.Retries)
		}
		return nil
	})
	_, ok := backie.RecordFromContext(context.Background())
	require.False(t, ok)

	task := env.task(7)
	task.Retries, task.BackoffMS, task.Type = 5, 1, "ctx-type"
	created := env.create(t, task)[0]
	wpStart(t, env.q, backie.Config{Workers: 1})
	for i := range 3 {
		rec := wpRecv(t, seen, "a run")
		require.Equal(t, created.ID, rec.ID)
		require.Equal(t, "wp_task", rec.Name)
		require.Equal(t, backie.TaskType("ctx-type"), rec.Type)
		require.Equal(t, i, rec.Retries)
		require.Equal(t, i+1, rec.Attempt)
		require.Equal(t, 5, rec.MaxRetries)
		require.True(t, created.CreatedAt.Equal(rec.CreatedAt), "created_at %v != %v", rec.CreatedAt, created.CreatedAt)
		require.Equal(t, backie.StateRunning, rec.State())
		require.JSONEq(t, string(created.Payload), string(rec.Payload))
		if i > 0 {
			require.NotNil(t, rec.Error, "a retry sees the previous failure")
			require.Equal(t, fmt.Sprintf("fail %d", i-1), rec.Error.Message)
		} else {
			require.Nil(t, rec.Error)
		}
	}
	env.eventuallyGone(t, created.ID)
}

// TestWorkerRecordMutationIsHarmless: a task that writes to the record it
// gets from its context cannot change how its attempt is finished.
func TestWorkerRecordMutationIsHarmless(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	var runs atomic.Int64
	env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, _ *wpTask) error {
		runs.Add(1)
		rec, _ := backie.RecordFromContext(ctx)
		if rec.Retries > 0 {
			return nil
		}
		rec.Attempt, rec.Retries, rec.MaxRetries = 42, 42, 0
		return errors.New("first attempt fails")
	})
	task := env.task(1)
	task.Retries, task.BackoffMS = 2, 1
	rec := env.create(t, task)[0]
	wpStart(t, env.q, backie.Config{Workers: 1, Retention: backie.KeepAll})
	got := env.eventually(t, rec.ID, wpFinished, "task never finished")
	require.Equal(t, backie.StateDone, got.State())
	require.Equal(t, 1, got.Retries)
	require.Equal(t, 2, got.Attempt)
	require.Equal(t, int64(2), runs.Load())
}
