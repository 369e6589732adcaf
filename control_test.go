package backie_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// TestCancelWaitingTasks: a Ready or Scheduled task becomes Cancelled at
// once and never runs; cancelling a finished task fails with
// ErrTaskFinished, an unknown one with ErrNotFound; CancelTaskTx follows
// its transaction.
func TestCancelWaitingTasks(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 6})
	var runs wpRuns
	env := wpNewEnv(t, db, func(_ context.Context, _ backie.Queue, task *wpTask) error {
		runs.add(task.N)
		return nil
	})
	ctx := context.Background()
	ready := env.create(t, env.task(1))[0]
	scheduled, err := env.q.CreateTask(ctx, env.task(2), backie.RunAfter(time.Hour))
	require.NoError(t, err)
	rolledBack := env.create(t, env.task(3))[0]

	for _, rec := range []*backie.TaskRecord{ready, scheduled} {
		got, err := env.q.CancelTask(ctx, rec.ID)
		require.NoError(t, err)
		require.Equal(t, backie.StateCancelled, got.State())
		require.NotNil(t, got.CancelledAt)
		require.NotNil(t, got.DoneAt)
		require.Equal(t, backie.StateCancelled, env.find(t, rec.ID).State())
		_, err = env.q.CancelTask(ctx, rec.ID)
		require.ErrorIs(t, err, backie.ErrTaskFinished, "a cancelled task")
	}
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	_, err = env.q.CancelTaskTx(ctx, tx, rolledBack.ID)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	require.Equal(t, backie.StateReady, env.find(t, rolledBack.ID).State(), "rolled back with its transaction")

	_, err = env.q.CancelTask(ctx, uuid.Must(uuid.NewV7()))
	require.ErrorIs(t, err, backie.ErrNotFound)

	// A pool runs the task that was not cancelled, and no other.
	wpStart(t, env.q, backie.Config{Workers: 2, Retention: backie.KeepAll})
	done := env.eventually(t, rolledBack.ID, wpFinished, "the task was not run")
	require.Equal(t, backie.StateDone, done.State())
	_, err = env.q.CancelTask(ctx, done.ID)
	require.ErrorIs(t, err, backie.ErrTaskFinished, "a done task")
	require.Zero(t, runs.get(1))
	require.Zero(t, runs.get(2))
	require.Equal(t, backie.StateCancelled, env.find(t, ready.ID).State(), "kept, whatever the retention")
}

// TestCancelRunningTask: a running task's context is cancelled with cause
// ErrTaskCancelled; when Run returns, whatever it returns, the task is
// Cancelled and never retried.
func TestCancelRunningTask(t *testing.T) {
	t.Parallel()
	for name, returns := range map[string]func(ctx context.Context) error{
		"returns the context's error": func(ctx context.Context) error { return ctx.Err() },
		"returns nil":                 func(context.Context) error { return nil },
		"panics":                      func(context.Context) error { panic("boom") },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := dbtest.Pool(t, dbtest.Options{MaxConns: 6})
			started := make(chan struct{}, 1)
			causes := make(chan error, 1)
			env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, task *wpTask) error {
				started <- struct{}{}
				<-ctx.Done()
				causes <- context.Cause(ctx)
				return returns(ctx)
			})
			task := env.task(1)
			task.Retries, task.BackoffMS = 5, 1
			rec := env.create(t, task)[0]
			wpStart(t, env.q, backie.Config{Workers: 1, PollInterval: time.Minute})
			wpRecv(t, started, "the task to start")

			got, err := env.q.CancelTask(context.Background(), rec.ID)
			require.NoError(t, err)
			require.Equal(t, backie.StateRunning, got.State(), "Running until Run returns")
			require.NotNil(t, got.CancelledAt)
			_, err = env.q.CancelTask(context.Background(), rec.ID)
			require.NoError(t, err, "asking again changes nothing")

			require.ErrorIs(t, wpRecv(t, causes, "the task's context to end"), backie.ErrTaskCancelled)
			got = env.eventually(t, rec.ID, wpFinished, "the task did not finish")
			require.Equal(t, backie.StateCancelled, got.State())
			require.Zero(t, got.Retries, "never retried")
			require.Equal(t, 1, got.Attempt)
			select {
			case <-started:
				t.Fatal("a cancelled task ran again")
			default:
			}
		})
	}
}

// TestCancelAcrossProcesses: CancelTask reaches the pool, in another
// process, that runs the task: through LISTEN/NOTIFY, and by polling when
// that pool's notifications are off.
func TestCancelAcrossProcesses(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for name, notify := range map[string]bool{"notified": true, "polled": false} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			schema := dbtest.Schema(t)
			db := dbtest.PoolFor(t, schema, 4)
			require.NoError(t, backie.Migrate(context.Background(), db, backie.MigrateConfig{}))
			childTables(t, db)
			env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error {
				return errors.New("tasks run in the child")
			})
			kid := startChild(t, childSpec{Schema: schema, Workers: 4, DisableNotifications: !notify,
				PollInterval: 200 * time.Millisecond})
			block := env.task(-1)
			block.Retries = 5
			rec := env.create(t, block)[0]
			waitFor(t, wpWait, func() bool {
				return env.count(t, `SELECT count(*) FROM runs WHERE task_id = $1`, rec.ID) == 1
			}, "the child did not start the task")

			start := time.Now()
			_, err := env.q.CancelTask(context.Background(), rec.ID)
			require.NoError(t, err)
			var got *backie.TaskRecord
			waitFor(t, wpWait, func() bool {
				got = env.find(t, rec.ID)
				return got.State() == backie.StateCancelled
			}, "the running task was not cancelled")
			t.Logf("cancelled in %v", time.Since(start).Round(time.Millisecond))
			require.Equal(t, int64(1), env.count(t, `SELECT count(*) FROM causes WHERE task_id = $1 AND cause = $2`,
				rec.ID, backie.ErrTaskCancelled.Error()))
			require.Zero(t, got.Retries)
			kid.stop(t)
			require.Equal(t, int64(1), env.count(t, `SELECT count(*) FROM runs WHERE task_id = $1`, rec.ID), "never retried")
		})
	}
}

// TestRetryTask: a Failed, Cancelled or Scheduled task is Ready at once
// and runs; its retries stay; a Running task cannot be retried.
func TestRetryTask(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 6})
	failFirst := map[int]bool{1: true}
	ran := make(chan int, 8)
	block := make(chan struct{})
	env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, task *wpTask) error {
		ran <- task.N
		if task.N == 9 {
			select {
			case <-block:
			case <-ctx.Done():
			}
			return nil
		}
		rec, _ := backie.RecordFromContext(ctx)
		if failFirst[task.N] && rec.Attempt == 1 {
			return errors.New("fails once")
		}
		return nil
	})
	ctx := context.Background()
	failed := env.create(t, env.task(1))[0] // no retries: Failed after one attempt
	wpStart(t, env.q, backie.Config{Workers: 2, Retention: backie.KeepAll})
	require.Equal(t, 1, wpRecv(t, ran, "the failing task"))
	got := env.eventually(t, failed.ID, wpFinished, "the task did not fail")
	require.Equal(t, backie.StateFailed, got.State())

	retried, err := env.q.RetryTask(ctx, failed.ID)
	require.NoError(t, err)
	require.Contains(t, []backie.TaskState{backie.StateReady, backie.StateRunning}, retried.State())
	require.Equal(t, 1, wpRecv(t, ran, "the retried task"))
	got = env.eventually(t, failed.ID, wpFinished, "the retried task did not finish")
	require.Equal(t, backie.StateDone, got.State())
	require.Zero(t, got.Retries, "a manual retry uses no retry")
	require.Equal(t, 2, got.Attempt)

	scheduled, err := env.q.CreateTask(ctx, env.task(2), backie.RunAfter(time.Hour))
	require.NoError(t, err)
	_, err = env.q.RetryTask(ctx, scheduled.ID)
	require.NoError(t, err)
	require.Equal(t, 2, wpRecv(t, ran, "the scheduled task, now"))

	cancelled := env.create(t, env.task(3))[0]
	_, _ = env.q.CancelTask(ctx, cancelled.ID) // it may have run already
	if env.find(t, cancelled.ID).State() == backie.StateCancelled {
		_, err = env.q.RetryTask(ctx, cancelled.ID)
		require.NoError(t, err)
		got = env.eventually(t, cancelled.ID, func(r *backie.TaskRecord) bool { return r.State() == backie.StateDone },
			"the retried cancelled task did not run")
		require.Nil(t, got.CancelledAt)
	}

	running := env.create(t, env.task(9))[0]
	for wpRecv(t, ran, "the blocking task to start") != 9 {
	}
	_, err = env.q.RetryTask(ctx, running.ID)
	require.ErrorIs(t, err, backie.ErrTaskRunning)
	close(block)
	_, err = env.q.RetryTask(ctx, uuid.Must(uuid.NewV7()))
	require.ErrorIs(t, err, backie.ErrNotFound)
}

// A unique task that failed cannot be retried while another unfinished
// task of its name holds its hash.
func TestRetryUniqueConflict(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()
	first, err := q.CreateTask(ctx, &enqUniqTask{Key: "k"})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE backie_tasks SET done_at = now(), error_info = '{"message":"x"}' WHERE id = $1`, first.ID)
	require.NoError(t, err)
	second, err := q.CreateTask(ctx, &enqUniqTask{Key: "k"})
	require.NoError(t, err)
	require.NotEqual(t, first.ID, second.ID)
	_, err = q.RetryTask(ctx, first.ID)
	require.ErrorIs(t, err, backie.ErrUniqueConflict)
	got, err := q.FindTask(ctx, first.ID)
	require.NoError(t, err)
	assert.Equal(t, backie.StateFailed, got.State(), "unchanged")
}

// TestRescheduleTask: a waiting task is due at the new time; a running or
// finished one cannot be rescheduled.
func TestRescheduleTask(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()
	rec, err := q.CreateTask(ctx, &enqTask{N: 1})
	require.NoError(t, err)
	at := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	got, err := q.RescheduleTask(ctx, rec.ID, at)
	require.NoError(t, err)
	require.Equal(t, backie.StateScheduled, got.State())
	require.True(t, at.Equal(got.ScheduledAt), "%v != %v", at, got.ScheduledAt)
	got, err = q.RescheduleTask(ctx, rec.ID, time.Now().Add(-time.Minute))
	require.NoError(t, err)
	require.Equal(t, backie.StateReady, got.State())

	_, err = pool.Exec(ctx, `UPDATE backie_tasks SET running_at = now(), attempt = 1 WHERE id = $1`, rec.ID)
	require.NoError(t, err)
	_, err = q.RescheduleTask(ctx, rec.ID, at)
	require.ErrorIs(t, err, backie.ErrTaskRunning)
	_, err = pool.Exec(ctx, `UPDATE backie_tasks SET done_at = now() WHERE id = $1`, rec.ID)
	require.NoError(t, err)
	_, err = q.RescheduleTask(ctx, rec.ID, at)
	require.ErrorIs(t, err, backie.ErrTaskFinished)
	_, err = q.RescheduleTask(ctx, uuid.Must(uuid.NewV7()), at)
	require.ErrorIs(t, err, backie.ErrNotFound)

	// A task rescheduled to a time near wakes the pool then.
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	ran := make(chan struct{}, 1)
	env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error {
		ran <- struct{}{}
		return nil
	})
	later, err := env.q.CreateTask(ctx, env.task(1), backie.RunAfter(time.Hour))
	require.NoError(t, err)
	wpStart(t, env.q, backie.Config{Workers: 1, PollInterval: time.Minute})
	_, err = env.q.RescheduleTask(ctx, later.ID, time.Now().Add(200*time.Millisecond))
	require.NoError(t, err)
	wpRecv(t, ran, "the rescheduled task")
}

// TestPauseAcrossProcesses: a paused type's tasks are claimed by no pool
// of any process, running ones finish, the pause outlives the pools, and
// resuming wakes them.
func TestPauseAcrossProcesses(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts child processes")
	}
	schema := dbtest.Schema(t)
	db := dbtest.PoolFor(t, schema, 4)
	ctx := context.Background()
	require.NoError(t, backie.Migrate(ctx, db, backie.MigrateConfig{}))
	childTables(t, db)
	env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error { return errors.New("run in the children") })
	spec := childSpec{Schema: schema, Workers: 4, PollInterval: time.Minute}
	kids := []*child{startChild(t, spec), startChild(t, spec)}

	// A task of the type runs when the pause comes: it goes on.
	long := env.task(-1)
	long.Type = "slow"
	running := env.create(t, long)[0]
	waitFor(t, wpWait, func() bool { return env.count(t, `SELECT count(*) FROM runs WHERE task_id = $1`, running.ID) == 1 },
		"the long task did not start")
	require.NoError(t, env.q.PauseType(ctx, "slow"))
	paused, err := env.q.PausedTypes(ctx)
	require.NoError(t, err)
	require.Len(t, paused, 1)
	require.Equal(t, backie.TaskType("slow"), paused[0].Type)

	// Due tasks of the type wait; the claims take the younger tasks of
	// another type around them.
	sentinel := func() {
		t.Helper()
		rec := env.create(t, env.task(100))[0]
		waitFor(t, wpWait, func() bool { return env.count(t, `SELECT count(*) FROM runs WHERE task_id = $1`, rec.ID) == 1 },
			"the sentinel did not run")
	}
	slow := make([]*wpTask, 5)
	for i := range slow {
		slow[i] = env.task(i)
		slow[i].Type = "slow"
	}
	recs := env.create(t, slow...)
	sentinel()
	require.Equal(t, int64(5), env.count(t, `SELECT count(*) FROM backie_tasks WHERE task_type = 'slow' AND attempt = 0`))
	require.Equal(t, backie.StateRunning, env.find(t, running.ID).State(), "a running task is not stopped by a pause")

	// The pause outlives the pools.
	_, err = env.q.CancelTask(ctx, running.ID) // lets the long task end with its pool
	require.NoError(t, err)
	for _, k := range kids {
		k.stop(t)
	}
	kids = []*child{startChild(t, spec)}
	sentinel()
	require.Equal(t, int64(5), env.count(t, `SELECT count(*) FROM backie_tasks WHERE task_type = 'slow' AND attempt = 0`))

	// Resuming wakes the idle pool (it polls once a minute).
	require.NoError(t, env.q.ResumeType(ctx, "slow"))
	for _, rec := range recs {
		waitFor(t, wpWait, func() bool { return env.count(t, `SELECT count(*) FROM runs WHERE task_id = $1`, rec.ID) == 1 },
			"a resumed task did not run")
	}
	paused, err = env.q.PausedTypes(ctx)
	require.NoError(t, err)
	require.Empty(t, paused)
	kids[0].stop(t)
	require.ErrorIs(t, env.q.PauseType(ctx, "a\x00b"), backie.ErrInvalidTaskType)
}

// A pool logs the pauses and resumes of the types it serves.
func TestPauseIsLogged(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error { return nil })
	records := make(chan slog.Record, 8)
	log := slog.New(&anyRecordHandler{ch: records})
	ctx := context.Background()
	require.NoError(t, env.q.PauseType(ctx, "reports"))
	wpStart(t, env.q, backie.Config{Workers: 1, TaskTypes: []backie.TaskType{"reports", "mail"}, Logger: log})
	for r := range records {
		if r.Message == "backie: task type paused: its tasks wait until it is resumed" {
			require.Equal(t, "reports", attrs(r)["task_type"])
			break
		}
	}
	require.NoError(t, env.q.ResumeType(ctx, "reports"))
	for r := range records {
		if r.Message == "backie: task type resumed" {
			require.Equal(t, "reports", attrs(r)["task_type"])
			break
		}
	}
}

// anyRecordHandler sends every record to ch, dropping those that do not fit.
type anyRecordHandler struct{ ch chan slog.Record }

func (h *anyRecordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *anyRecordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *anyRecordHandler) WithGroup(string) slog.Handler            { return h }
func (h *anyRecordHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.ch <- r.Clone():
	default:
	}
	return nil
}

// Retrying a Ready task leaves it where it is in the queue.
func TestRetryReadyTaskKeepsItsPlace(t *testing.T) {
	t.Parallel()
	q, _ := enqQueue(t)
	ctx := t.Context()
	rec, err := q.CreateTask(ctx, &enqTask{N: 1}, backie.RunAt(time.Now().Add(-time.Hour)))
	require.NoError(t, err)
	got, err := q.RetryTask(ctx, rec.ID)
	require.NoError(t, err)
	require.True(t, rec.ScheduledAt.Equal(got.ScheduledAt), "%v moved to %v", rec.ScheduledAt, got.ScheduledAt)
}
