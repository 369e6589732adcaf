package backie_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// TestWorkerPoolFindsTasksBehindTheCursor: while a backlog is drained the
// claimer continues after the last task it claimed. A task that sorts
// before that point (here: due an hour ago, enqueued mid-drain) must still
// be found by the periodic scan from the start, long before the backlog is
// done, and run once.
func TestWorkerPoolFindsTasksBehindTheCursor(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	const backlog = 2000
	var (
		started     atomic.Int64 // backlog tasks started
		lateRuns    atomic.Int64
		lateAt      = make(chan int64, 1)
		halfStarted = make(chan struct{})
	)
	env := wpNewEnv(t, db, func(_ context.Context, _ backie.Queue, task *wpTask) error {
		if task.N < 0 {
			if lateRuns.Add(1) == 1 {
				lateAt <- started.Load()
			}
			return nil
		}
		if started.Add(1) == 200 {
			close(halfStarted)
		}
		time.Sleep(time.Millisecond) // the work: 4 workers take at least a second for the backlog
		return nil
	})
	tasks := make([]*wpTask, backlog)
	for i := range tasks {
		tasks[i] = env.task(i)
	}
	env.create(t, tasks...)

	wpStart(t, env.q, backie.Config{Workers: 4})
	wpClosed(t, halfStarted, "the backlog to be under way")
	_, err := env.q.CreateTask(context.Background(), env.task(-1), backie.RunAt(time.Now().Add(-time.Hour)))
	require.NoError(t, err)

	before := wpRecv(t, lateAt, "the late task to start")
	require.Less(t, before, int64(backlog-backlog/10), "the late task waited for most of the backlog")
	env.eventuallyEmpty(t)
	require.Equal(t, int64(1), lateRuns.Load())
	require.Equal(t, int64(backlog), started.Load())
}

// TestWorkerPoolTypesBehindABacklog: a pool serving one type claims through
// that type's own index, past a backlog of older due tasks of another type
// that it must leave alone; a pool serving both types then runs the backlog.
// Every task runs exactly once.
func TestWorkerPoolTypesBehindABacklog(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 6})
	const backlog, emails = 500, 20
	var runs wpRuns
	emailDone := make(chan int, emails)
	env := wpNewEnv(t, db, func(_ context.Context, _ backie.Queue, task *wpTask) error {
		runs.add(task.N)
		if task.Type == "email" {
			emailDone <- task.N
		}
		return nil
	})
	bulk := make([]*wpTask, backlog)
	for i := range bulk {
		bulk[i] = env.task(i)
		bulk[i].Type = "bulk"
	}
	env.create(t, bulk...)
	mail := make([]*wpTask, emails)
	for i := range mail {
		mail[i] = env.task(backlog + i)
		mail[i].Type = "email"
	}
	env.create(t, mail...)

	wp, stop := wpStart(t, env.q, backie.Config{Workers: 4, TaskTypes: []backie.TaskType{"email"}})
	for range emails {
		wpRecv(t, emailDone, "an email task to run")
	}
	stop()
	wpStopped(t, wp)
	require.Equal(t, int64(backlog), env.count(t,
		`SELECT count(*) FROM backie_tasks WHERE task_type = 'bulk' AND attempt = 0 AND running_at IS NULL`),
		"the email pool touched the bulk backlog")
	require.Zero(t, env.count(t, `SELECT count(*) FROM backie_tasks WHERE task_type = 'email'`))

	wpStart(t, env.q, backie.Config{Workers: 4, TaskTypes: []backie.TaskType{"bulk", "email"}})
	env.eventuallyEmpty(t)
	for n := range backlog + emails {
		require.Equal(t, 1, runs.get(n), "runs of task %d", n)
	}
}
