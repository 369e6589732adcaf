package backie_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// wpAbandon claims the task id by hand the way a worker does, with
// running_at far in the past, as if its worker had died long ago.
func wpAbandon(t testing.TB, e *wpEnv, id backie.TaskID, since time.Duration) {
	t.Helper()
	tag, err := e.cdb.Exec(context.Background(),
		`UPDATE backie_tasks SET running_at = now() - $2::bigint * interval '1 millisecond', attempt = attempt + 1 WHERE id = $1`,
		id, since.Milliseconds())
	require.NoError(t, err)
	require.Equal(t, int64(1), tag.RowsAffected())
	require.Equal(t, backie.StateRunning, e.find(t, id).State())
}

// wpRescueConfig makes the rescuer look every 50ms and take back tasks
// 10ms past their timeout.
func wpRescueConfig(cfg backie.Config) backie.Config {
	cfg.RescueInterval = 50 * time.Millisecond
	cfg.RescueMargin = 10 * time.Millisecond
	return cfg
}

// TestRescuerTakesBackAbandonedTask: a task left Running by a dead worker
// is taken back by the leader (an attempt, kind "abandoned"), retried and
// completed; a task Running within its timeout is left alone. The leader
// takes back the tasks of every name, those its registry does not know
// with the default backoff.
func TestRescuerTakesBackAbandonedTask(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	seen := make(chan backie.TaskRecord, 4)
	env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, task *wpTask) error {
		rec, _ := backie.RecordFromContext(ctx)
		seen <- *rec
		return nil
	})
	abandoned := env.task(1)
	abandoned.TimeoutMS, abandoned.Retries, abandoned.BackoffMS = 100, 2, 1
	busy := env.task(2) // running for a second of its 2 minutes
	recs := env.create(t, abandoned, busy)
	wpAbandon(t, env, recs[0].ID, time.Hour)
	wpAbandon(t, env, recs[1].ID, time.Second)
	// A task of a name this pool does not run, abandoned too.
	otherReg := backie.NewRegistry()
	require.NoError(t, backie.Register[*wpOtherTask](otherReg, "wp_other"))
	foreign, err := backie.NewPgQueue(db, otherReg).CreateTask(context.Background(), &wpOtherTask{Key: env.key})
	require.NoError(t, err)
	wpAbandon(t, env, foreign.ID, time.Hour)

	wpStart(t, env.q, wpRescueConfig(backie.Config{Workers: 2, Retention: backie.KeepAll}))
	run := wpRecv(t, seen, "the rescued task to run again")
	require.Equal(t, recs[0].ID, run.ID)
	require.Equal(t, 1, run.Retries, "the lost attempt counts")
	require.Equal(t, 2, run.Attempt)
	require.NotNil(t, run.Error)
	require.Equal(t, backie.ErrorKindAbandoned, run.Error.Kind)
	require.Contains(t, run.Error.Message, backie.ErrTaskTimeout.Error())
	require.Zero(t, run.Error.Retries)

	got := env.eventually(t, recs[0].ID, wpFinished, "rescued task never finished")
	require.Equal(t, backie.StateDone, got.State())
	require.Equal(t, 1, got.Retries)
	require.Nil(t, got.Error)

	// Several rescue passes have run since: the busy task is untouched.
	got = env.find(t, recs[1].ID)
	require.Equal(t, backie.StateRunning, got.State())
	require.Equal(t, 1, got.Attempt)
	require.Zero(t, got.Retries)
	require.Nil(t, got.Error)
	// The foreign task waits for a pool that serves it, its lost attempt
	// counted.
	got = env.find(t, foreign.ID)
	require.Nil(t, got.RunningAt)
	require.Equal(t, 1, got.Retries)
	require.Equal(t, backie.ErrorKindAbandoned, got.Error.Kind)
	select {
	case r := <-seen:
		t.Fatalf("task %d ran although it was not abandoned", r.Attempt)
	default:
	}
}

// TestRescuerFailsAbandonedTaskOutOfRetries: an abandoned task without
// retries left ends Failed without running again.
func TestRescuerFailsAbandonedTaskOutOfRetries(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	var runs wpRuns
	env := wpNewEnv(t, db, func(_ context.Context, _ backie.Queue, task *wpTask) error {
		runs.add(task.N)
		return nil
	})
	task := env.task(1)
	task.TimeoutMS = 100
	rec := env.create(t, task)[0]
	wpAbandon(t, env, rec.ID, time.Hour)

	wpStart(t, env.q, wpRescueConfig(backie.Config{Workers: 1}))
	got := env.eventually(t, rec.ID, wpFinished, "abandoned task never failed")
	require.Equal(t, backie.StateFailed, got.State())
	require.Equal(t, backie.ErrorKindAbandoned, got.Error.Kind)
	require.Zero(t, got.Retries)
	require.Zero(t, runs.total())
}

// TestRescuedTaskIgnoresStaleFinish: a task that overruns its timeout and
// ignores its context is taken back by the leader and claimed again by
// another pool; when
// the first attempt finally returns, its finishing write is ignored (it is
// guarded by the attempt), and only the second attempt finishes the task.
func TestRescuedTaskIgnoresStaleFinish(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 8})
	var runs wpRuns
	started := make(chan int, 4)
	returned := make(chan int, 4)
	release := map[int]chan struct{}{1: make(chan struct{}), 2: make(chan struct{}), 3: make(chan struct{})}
	var releaseOnce [4]sync.Once
	releaseAttempt := func(a int) { releaseOnce[a].Do(func() { close(release[a]) }) }
	env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, task *wpTask) error {
		rec, _ := backie.RecordFromContext(ctx)
		runs.add(rec.Attempt)
		started <- rec.Attempt
		if rec.Attempt == 1 {
			<-release[1] // ignores its context: a hung attempt
			returned <- 1
			return nil
		}
		select {
		case <-release[min(rec.Attempt, 3)]:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})

	// Pool A, the leader, runs attempt 1 with a 100ms timeout, and takes
	// the hung task back 10ms after it.
	poolA, stopA := wpStart(t, env.q, wpRescueConfig(backie.Config{Workers: 1, TaskTimeout: 100 * time.Millisecond}))
	task := env.task(1)
	task.Retries, task.BackoffMS = 3, 1
	rec := env.create(t, task)[0]
	require.Equal(t, 1, wpRecv(t, started, "attempt 1"))

	// Pool B, whose worker is free, runs attempt 2 with a 1h timeout.
	wpStart(t, env.q, backie.Config{Workers: 1, TaskTimeout: time.Hour})
	t.Cleanup(func() { // before the pools' cleanups
		for a := 1; a <= 3; a++ {
			releaseAttempt(a)
		}
	})
	require.Equal(t, 2, wpRecv(t, started, "attempt 2"))
	got := env.find(t, rec.ID)
	require.Equal(t, backie.StateRunning, got.State())
	require.Equal(t, 2, got.Attempt)
	require.Equal(t, 1, got.Retries)
	require.Equal(t, backie.ErrorKindAbandoned, got.Error.Kind)

	// Attempt 1 returns success. Once pool A has stopped, every result it
	// produced has been written.
	releaseAttempt(1)
	require.Equal(t, 1, wpRecv(t, returned, "attempt 1 to return"))
	stopA()
	wpStopped(t, poolA)

	got = env.find(t, rec.ID)
	require.Equal(t, backie.StateRunning, got.State(), "the stale attempt must not finish the task")
	require.Equal(t, 2, got.Attempt)
	require.Equal(t, 1, got.Retries)
	require.Nil(t, got.DoneAt)

	releaseAttempt(2)
	env.eventuallyGone(t, rec.ID)
	require.Equal(t, 1, runs.get(1))
	require.Equal(t, 1, runs.get(2))
	require.Zero(t, runs.get(3))
}
