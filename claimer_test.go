package backie_test

import (
	"context"
	"fmt"
	"slices"
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

// TestExactlyOnceAcrossTypedPools runs tasks of three types on pools that
// serve overlapping sets of them, each through a different claim: two
// types (one scan per type, locking tasks it may not claim), one type, and
// more types than the per-type claim takes (the claim of every type,
// filtering in the heap). Tasks are enqueued while the pools run, behind a
// backlog of a type no pool serves. Every task runs exactly once, on a pool
// that serves its type, and the backlog is never claimed.
func TestExactlyOnceAcrossTypedPools(t *testing.T) {
	t.Parallel()
	const (
		total   = 3000
		ignored = 300
	)
	schema := dbtest.Schema(t)
	setup := dbtest.PoolFor(t, schema, 2)
	require.NoError(t, backie.Migrate(context.Background(), setup, backie.MigrateConfig{}))

	many := []backie.TaskType{"a", "b", "c"}
	for i := len(many); i <= backie.ClaimTypesMaxForTest; i++ {
		many = append(many, backie.TaskType(fmt.Sprintf("unused%d", i)))
	}
	poolTypes := [][]backie.TaskType{{"a", "b"}, {"b", "c"}, {"c", "a", "c"}, {"b"}, many}
	queues := make([]*backie.PgQueue, len(poolTypes))
	counts := make([]atomic.Int32, total)
	var done, wrongPool atomic.Int64
	env := wpNewEnv(t, setup, func(_ context.Context, q backie.Queue, task *wpTask) error {
		i := slices.IndexFunc(queues, func(pq *backie.PgQueue) bool { return backie.Queue(pq) == q })
		if i < 0 || !slices.Contains(poolTypes[i], backie.TaskType(task.Type)) {
			wrongPool.Add(1)
		}
		if task.N >= 0 && task.N < total {
			counts[task.N].Add(1)
		}
		done.Add(1)
		return nil
	})
	backlog := make([]*wpTask, ignored)
	for i := range backlog {
		backlog[i] = env.task(total + i)
		backlog[i].Type = "ignored"
	}
	env.create(t, backlog...)

	for i := range queues {
		reg := backie.NewRegistry()
		require.NoError(t, wpRegister(reg, env.hook))
		queues[i] = backie.NewPgQueue(dbtest.PoolFor(t, schema, 3), reg)
		wpStart(t, queues[i], backie.Config{Workers: 8, TaskTypes: poolTypes[i]})
	}
	const batch = 250
	for start := 0; start < total; start += batch {
		tasks := make([]*wpTask, 0, batch)
		for n := start; n < start+batch; n++ {
			task := env.task(n)
			task.Type = string(many[n%3])
			tasks = append(tasks, task)
		}
		env.create(t, tasks...)
	}

	require.Eventually(t, func() bool {
		return done.Load() >= total &&
			wpCount(t, setup, `SELECT count(*) FROM backie_tasks WHERE task_type <> 'ignored'`) == 0
	}, 45*time.Second, 20*time.Millisecond, "ran %d of %d tasks", done.Load(), total)
	for n := range counts {
		require.Equal(t, int32(1), counts[n].Load(), "runs of task %d", n)
	}
	require.Equal(t, int64(total), done.Load())
	require.Zero(t, wrongPool.Load(), "tasks ran on a pool that does not serve their type")
	require.Equal(t, int64(ignored), wpCount(t, setup,
		`SELECT count(*) FROM backie_tasks WHERE task_type = 'ignored' AND attempt = 0 AND running_at IS NULL`))
}
