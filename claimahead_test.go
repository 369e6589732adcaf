package backie_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// TestClaimAheadBuffer: with every worker busy, a pool holds up to
// ClaimAhead more claimed tasks. A cancel removes a waiting task without
// running it; a waiting task's timeout starts when it starts, not when it
// was claimed; a stop releases the waiting tasks at once, without using
// an attempt.
func TestClaimAheadBuffer(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 6})
	release := make(chan struct{})
	started := make(chan int, 16)
	deadlines := make(chan time.Duration, 16)
	env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, task *wpTask) error {
		if task.N >= warmN {
			return nil
		}
		started <- task.N
		d, _ := ctx.Deadline()
		deadlines <- time.Until(d)
		<-release
		return nil
	})
	wp, stop := wpStart(t, env.q, backie.Config{Workers: 2, ClaimAhead: 3, PollInterval: time.Minute})
	warmUp(t, env)
	// 2 workers, 3 more claimed ahead: tasks 0..1 run, 2..4 wait.
	tasks := make([]*wpTask, 8)
	for i := range tasks {
		tasks[i] = env.task(i)
		tasks[i].TimeoutMS = 500
	}
	recs := env.create(t, tasks...)
	wpRecv(t, started, "a task")
	wpRecv(t, started, "a task")
	waiting := func() int64 {
		return env.count(t, `SELECT count(*) FROM backie_tasks WHERE running_at IS NOT NULL AND done_at IS NULL`)
	}
	env.await(t, func() bool { return waiting() == 5 }, "the pool did not claim ahead")
	require.Equal(t, int64(3), env.count(t, `SELECT count(*) FROM backie_tasks WHERE attempt = 0`), "no more than workers + ClaimAhead")

	// Cancel one of the waiting tasks (the oldest waiting: task 2).
	got, err := env.q.CancelTask(context.Background(), recs[2].ID)
	require.NoError(t, err)
	require.Equal(t, backie.StateRunning, got.State(), "held by the pool")

	// The waiting tasks' timeout (500ms) has not run while they waited.
	time.Sleep(600 * time.Millisecond) // longer than their timeout, before they start
	close(release)
	for range 5 {
		n := wpRecv(t, started, "a task")
		require.NotEqual(t, 2, n, "the cancelled task ran")
		require.Greater(t, wpRecv(t, deadlines, "its deadline"), 300*time.Millisecond, "task %d's timeout started before it ran", n)
	}
	got = env.eventually(t, recs[2].ID, wpFinished, "the cancelled task was not finished")
	require.Equal(t, backie.StateCancelled, got.State())
	stop()
	wpStopped(t, wp)
}

// TestClaimAheadReleasedAtStop: at a graceful stop, the tasks that waited
// for a worker are released at once (not run), without using an attempt,
// while the running ones finish; the next pool runs each once.
func TestClaimAheadReleasedAtStop(t *testing.T) {
	t.Parallel()
	for name, hard := range map[string]bool{"graceful": false, "hard": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := dbtest.Pool(t, dbtest.Options{MaxConns: 6})
			var runs wpRuns
			release := make(chan struct{})
			var once sync.Once
			started := make(chan int, 16)
			env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, task *wpTask) error {
				if task.N >= warmN {
					return nil
				}
				runs.add(task.N)
				started <- task.N
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
				return nil
			})
			grace := time.Minute
			if hard {
				grace = 10 * time.Millisecond
			}
			wp, stop := wpStart(t, env.q, backie.Config{Workers: 2, ClaimAhead: 4, ShutdownGrace: grace})
			warmUp(t, env)
			tasks := make([]*wpTask, 6)
			for i := range tasks {
				tasks[i] = env.task(i)
				tasks[i].Retries = 3
			}
			recs := env.create(t, tasks...)
			wpRecv(t, started, "a task")
			wpRecv(t, started, "a task")
			env.await(t, func() bool {
				return env.count(t, `SELECT count(*) FROM backie_tasks WHERE running_at IS NOT NULL`) == 6
			}, "the pool did not claim ahead")
			stop()
			if !hard {
				// The waiting tasks are back before the running ones finish.
				env.await(t, func() bool {
					return env.count(t, `SELECT count(*) FROM backie_tasks WHERE running_at IS NULL`) == 4
				}, "the waiting tasks were not released")
				once.Do(func() { close(release) })
			}
			wpStopped(t, wp)
			once.Do(func() { close(release) })
			for _, rec := range recs {
				if env.gone(t, rec.ID) { // ran and finished
					continue
				}
				got := env.find(t, rec.ID)
				require.Equal(t, backie.StateReady, got.State())
				require.Zero(t, got.Retries, "a released task uses no retry")
			}
			require.Equal(t, 2, runs.total(), "only the running tasks ran")

			wpStart(t, env.q, backie.Config{Workers: 2})
			env.eventuallyEmpty(t)
			for i := range tasks {
				require.Equal(t, 1, runs.get(i)-boolInt(hard && runs.get(i) == 2), "runs of task %d", i)
			}
		})
	}
}

// warmN and up are the tasks warmUp creates; the tests' handlers return
// at once for them.
const warmN = 1000

// warmUp runs a few tasks that return at once on the started pool, so that
// it has timed its attempts and claims and fills its claim-ahead buffer
// (a pool claims ahead only once it knows how long its tasks take).
func warmUp(t *testing.T, env *wpEnv) {
	t.Helper()
	warm := make([]*wpTask, 20)
	for i := range warm {
		warm[i] = env.task(warmN + i)
	}
	env.create(t, warm...)
	env.eventuallyEmpty(t)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestClaimAheadNoHoarding: four processes of 25 workers share a finite
// backlog; every pool gets work until the backlog ends, and a killed
// pool's buffered tasks come back like its running ones.
func TestClaimAheadNoHoarding(t *testing.T) {
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
	spec := childSpec{Schema: schema, Workers: 25}
	kids := make([]*child, 4)
	for i := range kids {
		kids[i] = startChild(t, spec)
	}
	const total = 4000
	tasks := make([]*wpTask, total)
	for i := range tasks {
		tasks[i] = env.task(i)
	}
	for start := 0; start < total; start += 1000 {
		env.create(t, tasks[start:start+1000]...)
	}
	waitFor(t, 60*time.Second, func() bool { return env.count(t, `SELECT count(*) FROM backie_tasks`) == 0 },
		"the backlog was not drained")
	for _, k := range kids {
		k.stop(t)
	}
	require.Equal(t, int64(total), env.count(t, `SELECT count(DISTINCT task_id) FROM runs`))
	require.Equal(t, int64(total), env.count(t, `SELECT count(*) FROM runs`), "a task ran twice")
	// Every pool ran tasks in the last fifth of the run.
	require.Equal(t, int64(4), env.count(t, `SELECT count(DISTINCT pid) FROM (
		SELECT pid FROM runs ORDER BY at DESC LIMIT $1) AS last`, total/5), "a pool got no work at the end")
}
