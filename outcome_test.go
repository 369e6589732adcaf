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

// What Run returns decides the attempt: these tests cover the outcomes a
// task chooses (Permanent, Snooze) and the timeout that overrides a nil.

// TestWorkerTimeoutFiredRunReturnedNil: a Run that ignores its context and
// returns nil after its timeout fired has failed with a timeout, and
// follows the retry rules.
func TestWorkerTimeoutFiredRunReturnedNil(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	var runs atomic.Int64
	env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, _ *wpTask) error {
		runs.Add(1)
		<-ctx.Done() // the timeout fires...
		return nil   // ...and Run claims success anyway
	})
	task := env.task(1)
	task.TimeoutMS, task.Retries, task.BackoffMS = 30, 1, 1
	rec := env.create(t, task)[0]

	wpStart(t, env.q, backie.Config{Workers: 1, Retention: backie.KeepAll})
	got := env.eventually(t, rec.ID, wpFinished, "task never finished")
	require.Equal(t, backie.StateFailed, got.State(), "an overrun attempt is not a success")
	require.Equal(t, int64(2), runs.Load(), "one run and one retry")
	require.Equal(t, 1, got.Retries)
	require.Equal(t, backie.ErrorKindTimeout, got.Error.Kind)
	require.Contains(t, got.Error.Message, backie.ErrTaskTimeout.Error())
	require.Contains(t, got.Error.Message, "Run returned nil")
}

// TestWorkerPermanent: Permanent(err) fails the task at once, with its
// error stored, however many retries are left.
func TestWorkerPermanent(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	var runs atomic.Int64
	env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error {
		runs.Add(1)
		return backie.Permanent(errors.New("the account is closed"))
	})
	task := env.task(1)
	task.Retries, task.BackoffMS = 20, 1
	rec := env.create(t, task)[0]

	wpStart(t, env.q, backie.Config{Workers: 1})
	got := env.eventually(t, rec.ID, wpFinished, "task never finished")
	require.Equal(t, backie.StateFailed, got.State())
	require.Equal(t, int64(1), runs.Load(), "never retried")
	require.Zero(t, got.Retries)
	require.True(t, got.Error.Permanent)
	require.Equal(t, backie.ErrorKindError, got.Error.Kind)
	require.Equal(t, "the account is closed", got.Error.Message)

	require.NoError(t, backie.Permanent(nil))
	require.True(t, backie.IsPermanent(backie.Permanent(errors.New("x"))))
	require.False(t, backie.IsPermanent(errors.New("x")))
	base := errors.New("base")
	require.ErrorIs(t, backie.Permanent(base), base, "Permanent wraps its error")
}

// TestWorkerSnooze: Snooze(d) runs the task again after d without using a
// retry, and keeps its last error; a task without retries left can snooze.
func TestWorkerSnooze(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	type run struct {
		attempt, retries int
		at               time.Time
	}
	runs := make(chan run, 8)
	env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, _ *wpTask) error {
		rec, _ := backie.RecordFromContext(ctx)
		runs <- run{rec.Attempt, rec.Retries, time.Now()}
		switch rec.Attempt {
		case 1:
			return errors.New("first attempt fails") // uses the only retry
		case 2, 3:
			return backie.Snooze(200 * time.Millisecond)
		}
		return nil
	})
	task := env.task(1)
	task.Retries, task.BackoffMS = 1, 1
	rec := env.create(t, task)[0]

	wpStart(t, env.q, backie.Config{Workers: 1, Retention: backie.KeepAll})
	first := wpRecv(t, runs, "the first attempt")
	retry := wpRecv(t, runs, "the retry")
	require.Equal(t, 1, retry.retries, "the failure used a retry")

	// The snooze leaves the task waiting, its retries and error untouched.
	snoozed := env.eventually(t, rec.ID, func(r *backie.TaskRecord) bool { return r.RunningAt == nil && r.Attempt == 2 },
		"the snooze was not recorded")
	require.Equal(t, 1, snoozed.Retries)
	require.Equal(t, 1, snoozed.MaxRetries)
	require.NotNil(t, snoozed.Error)
	require.Equal(t, "first attempt fails", snoozed.Error.Message)
	require.Nil(t, snoozed.DoneAt)

	third := wpRecv(t, runs, "the run after the first snooze")
	fourth := wpRecv(t, runs, "the run after the second snooze")
	require.Equal(t, 1, third.retries)
	require.Equal(t, 1, fourth.retries, "snoozes use no retry")
	require.GreaterOrEqual(t, third.at.Sub(retry.at), 200*time.Millisecond, "snoozed for its duration")
	require.GreaterOrEqual(t, fourth.at.Sub(third.at), 200*time.Millisecond)
	_ = first

	got := env.eventually(t, rec.ID, wpFinished, "task never finished")
	require.Equal(t, backie.StateDone, got.State(), "a task out of retries can still snooze and then succeed")
	require.Equal(t, 4, got.Attempt)
	require.Nil(t, got.Error)
}

// TestSnoozeDelay: SnoozeDelay finds a Snooze in err's tree, wrapped or
// joined, with its wait (never negative), and nothing in other errors.
func TestSnoozeDelay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want time.Duration
		ok   bool
	}{
		{"nil", nil, 0, false},
		{"plain", errors.New("x"), 0, false},
		{"snooze", backie.Snooze(3 * time.Second), 3 * time.Second, true},
		{"negative", backie.Snooze(-time.Second), 0, true},
		{"wrapped", fmt.Errorf("later: %w", backie.Snooze(time.Minute)), time.Minute, true},
		{"joined", errors.Join(errors.New("x"), backie.Snooze(time.Millisecond)), time.Millisecond, true},
		{"permanent", backie.Permanent(errors.New("x")), 0, false},
	} {
		d, ok := backie.SnoozeDelay(tc.err)
		require.Equal(t, tc.ok, ok, tc.name)
		require.Equal(t, tc.want, d, tc.name)
	}
}
