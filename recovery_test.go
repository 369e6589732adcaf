package backie_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// TestCrashRecoveryAndLeaderFailover: a pool killed with SIGKILL while it
// holds tasks, and while it is the leader, loses both: another pool takes
// the leadership once the dead one's expires, and the tasks back once the
// dead pool's heartbeat is older than its timeout, whatever the tasks' own
// timeouts (an hour here), and runs them again.
func TestCrashRecoveryAndLeaderFailover(t *testing.T) {
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
	spec := childSpec{Schema: schema, Workers: 3, HeartbeatInterval: 200 * time.Millisecond,
		HeartbeatTimeout: time.Second, PollInterval: 200 * time.Millisecond}

	// The first child is the leader; it runs three tasks that block, and
	// holds a fourth in its claim-ahead buffer (it claims ahead once it has
	// run a few tasks and knows they are short).
	first := startChild(t, spec)
	var leaderPID int
	waitFor(t, wpWait, func() bool {
		return db.QueryRow(ctx, `SELECT p.pid FROM backie_leader l JOIN backie_processes p ON p.id = l.process_id`).
			Scan(&leaderPID) == nil
	}, "no leader")
	require.Equal(t, first.cmd.Process.Pid, leaderPID)
	warm := make([]*wpTask, 20)
	for i := range warm {
		warm[i] = env.task(i)
	}
	env.create(t, warm...)
	waitFor(t, wpWait, func() bool { return env.count(t, `SELECT count(*) FROM backie_tasks`) == 0 }, "the first tasks did not run")
	warmRuns := env.count(t, `SELECT count(*) FROM runs`)
	blocked := make([]*wpTask, 4)
	for i := range blocked {
		blocked[i] = env.task(-1)
		blocked[i].Retries, blocked[i].BackoffMS, blocked[i].TimeoutMS = 3, 1, time.Hour.Milliseconds()
	}
	recs := env.create(t, blocked...)
	waitFor(t, wpWait, func() bool {
		return env.count(t, `SELECT count(*) FROM runs`) == warmRuns+3 &&
			env.count(t, `SELECT count(*) FROM backie_tasks WHERE running_at IS NOT NULL`) == 4
	}, "the tasks did not start")
	for _, rec := range recs {
		got := env.find(t, rec.ID)
		require.Equal(t, backie.StateRunning, got.State())
		require.NotNil(t, got.ProcessID, "a claim records its pool")
	}

	// The second child, with a worker for each task, waits; the first is
	// killed.
	spec.Workers = 4
	second := startChild(t, spec)
	first.kill(t)
	killed := time.Now()
	waitFor(t, wpWait, func() bool {
		var pid int
		err := db.QueryRow(ctx, `SELECT p.pid FROM backie_leader l JOIN backie_processes p ON p.id = l.process_id`).Scan(&pid)
		return err == nil && pid == second.cmd.Process.Pid
	}, "the second pool did not take the leadership")
	t.Logf("leadership taken over %v after the kill", time.Since(killed).Round(time.Millisecond))
	waitFor(t, wpWait, func() bool {
		return env.count(t, `SELECT count(*) FROM runs WHERE pid = $1`, second.cmd.Process.Pid) == 4
	}, "the tasks of the dead pool, running and waiting, did not run again")
	t.Logf("tasks running again %v after the kill", time.Since(killed).Round(time.Millisecond))
	for _, rec := range recs {
		got := env.find(t, rec.ID)
		require.Equal(t, 2, got.Attempt)
		require.Equal(t, 1, got.Retries, "the lost attempt counts")
		require.Equal(t, backie.ErrorKindAbandoned, got.Error.Kind)
		require.Contains(t, got.Error.Message, "stopped heartbeating")
	}
	require.Zero(t, env.count(t, `SELECT count(*) FROM backie_processes WHERE pid = $1`, leaderPID), "the dead pool's entry is gone")
	for _, rec := range recs {
		_, err := env.q.CancelTask(ctx, rec.ID)
		require.NoError(t, err)
	}
	second.stop(t)
}

// TestPoolDeclaredDead: a pool that the leader declared dead (its entry
// too old: a long pause, a network cut) loses its tasks to another pool;
// when its attempt returns, the finishing write is refused (it is guarded
// by the attempt), and the pool registers again.
func TestPoolDeclaredDead(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 8})
	started := make(chan int, 4)
	release := make(chan struct{})
	env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, task *wpTask) error {
		rec, _ := backie.RecordFromContext(ctx)
		started <- rec.Attempt
		if rec.Attempt == 1 {
			<-release // the attempt of the pool that will be declared dead
		}
		return nil
	})
	ctx := context.Background()
	// The leader, with a free worker.
	wpStart(t, env.q, backie.Config{Workers: 1, TaskTypes: []backie.TaskType{"spare"}})
	env.await(t, func() bool { return env.count(t, `SELECT count(*) FROM backie_leader`) == 1 }, "no leader")
	// The pool that will be declared dead heartbeats once a minute.
	dead, _ := wpStart(t, env.q, backie.Config{Workers: 1, HeartbeatInterval: time.Minute, HeartbeatTimeout: time.Hour})
	task := env.task(1)
	task.Retries, task.BackoffMS = 3, 1
	rec := env.create(t, task)[0]
	require.Equal(t, 1, wpRecv(t, started, "attempt 1"))
	holder := env.find(t, rec.ID).ProcessID
	require.NotNil(t, holder)

	// Its entry ages past its timeout, as if it had been silent for hours
	// (after its first heartbeat, which comes right after its start).
	env.await(t, func() bool {
		return env.count(t, `SELECT count(*) FROM backie_processes WHERE id = $1 AND heartbeat_at > started_at`, *holder) == 1
	}, "the pool did not heartbeat")
	_, err := db.Exec(ctx, `UPDATE backie_processes SET heartbeat_at = now() - interval '2 hours' WHERE id = $1`, *holder)
	require.NoError(t, err)
	got := env.eventually(t, rec.ID, func(r *backie.TaskRecord) bool { return r.Retries == 1 }, "the task was not taken back")
	require.Equal(t, backie.ErrorKindAbandoned, got.Error.Kind)
	require.Zero(t, env.count(t, `SELECT count(*) FROM backie_processes WHERE id = $1`, *holder))

	// Another pool serving the type runs attempt 2 while attempt 1 hangs.
	other, stopOther := wpStart(t, env.q, backie.Config{Workers: 1, Retention: backie.KeepAll})
	require.Equal(t, 2, wpRecv(t, started, "attempt 2"))
	env.eventually(t, rec.ID, wpFinished, "attempt 2 did not finish")
	stopOther()
	wpStopped(t, other)

	// Attempt 1 returns success: its write must change nothing.
	close(release)
	select {
	case <-dead.Done():
		t.Fatal("the pool declared dead stopped")
	default:
	}
	env.await(t, func() bool {
		got = env.find(t, rec.ID)
		return true
	}, "")
	require.Equal(t, backie.StateDone, got.State())
	require.Equal(t, 2, got.Attempt)
	// Its next heartbeat registers it again (once a minute: not waited for).
}

// TestCleanupOfFinishedTasks: the leader deletes Done tasks older than
// CleanupDoneAfter and Failed and Cancelled ones older than
// CleanupFailedAfter; KeepForever keeps them.
func TestCleanupOfFinishedTasks(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 6})
	env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error { return nil })
	ctx := context.Background()
	age := func(id backie.TaskID, state string, ago time.Duration) {
		t.Helper()
		set := map[string]string{
			"done":      `done_at = now() - $2::interval, running_at = now() - $2::interval`,
			"failed":    `done_at = now() - $2::interval, error_info = '{"message":"x"}'`,
			"cancelled": `done_at = now() - $2::interval, cancelled_at = now() - $2::interval`,
		}[state]
		_, err := db.Exec(ctx, `UPDATE backie_tasks SET `+set+` WHERE id = $1`, id, ago.String())
		require.NoError(t, err)
	}
	recs := env.create(t, env.task(1), env.task(2), env.task(3), env.task(4), env.task(5), env.task(6))
	age(recs[0].ID, "done", 2*time.Hour)       // deleted
	age(recs[1].ID, "done", time.Minute)       // kept: young
	age(recs[2].ID, "failed", 2*time.Hour)     // kept: failed tasks stay a day
	age(recs[3].ID, "failed", 48*time.Hour)    // deleted
	age(recs[4].ID, "cancelled", 48*time.Hour) // deleted
	wpStart(t, env.q, backie.Config{Workers: 1, TaskTypes: []backie.TaskType{"none"},
		CleanupDoneAfter: time.Hour, CleanupFailedAfter: 24 * time.Hour})
	for _, i := range []int{0, 3, 4} {
		env.eventuallyGone(t, recs[i].ID)
	}
	for _, i := range []int{1, 2, 5} {
		env.find(t, recs[i].ID)
	}

	// KeepForever keeps them.
	db2 := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	env2 := wpNewEnv(t, db2, func(context.Context, backie.Queue, *wpTask) error { return nil })
	old := env2.create(t, env2.task(1))[0]
	_, err := db2.Exec(ctx, `UPDATE backie_tasks SET done_at = now() - interval '1000 days' WHERE id = $1`, old.ID)
	require.NoError(t, err)
	sentinel := env2.create(t, env2.task(2))[0]
	_, err = db2.Exec(ctx, `UPDATE backie_tasks SET done_at = now() - interval '1000 days', error_info = '{"message":"x"}' WHERE id = $1`, sentinel.ID)
	require.NoError(t, err)
	wpStart(t, env2.q, backie.Config{Workers: 1, TaskTypes: []backie.TaskType{"none"},
		CleanupDoneAfter: backie.KeepForever, CleanupFailedAfter: time.Hour})
	env2.eventuallyGone(t, sentinel.ID) // a cleanup ran
	env2.find(t, old.ID)

	_, err = backie.NewWorkerPool(env.q, backie.Config{CleanupDoneAfter: -2})
	require.ErrorIs(t, err, backie.ErrInvalidConfig)
}
