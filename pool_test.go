package backie_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

func TestWorkerPoolConfigErrors(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 2})
	env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error { return nil })

	for name, cfg := range map[string]backie.Config{
		"negative workers":    {Workers: -1},
		"unknown retention":   {Retention: backie.RetentionMode(42)},
		"negative poll":       {PollInterval: -time.Second},
		"negative grace":      {ShutdownGrace: -time.Second},
		"negative timeout":    {TaskTimeout: -time.Second},
		"negative rescue":     {RescueInterval: -time.Second},
		"negative margin":     {RescueMargin: -time.Second},
		"empty type in types": {TaskTypes: []backie.TaskType{"common", ""}},
		"bad claim-ahead":     {ClaimAhead: -2},
	} {
		wp, err := backie.NewWorkerPool(env.q, cfg)
		assert.ErrorIs(t, err, backie.ErrInvalidConfig, name)
		assert.Nil(t, wp, name)
	}

	wp, err := backie.NewWorkerPool(nil, backie.Config{})
	require.ErrorIs(t, err, backie.ErrInvalidConfig)
	require.Nil(t, wp)
	_, err = backie.NewWorkerPool(backie.NewPgQueue(nil, env.reg), backie.Config{})
	require.ErrorIs(t, err, backie.ErrInvalidConfig)
	_, err = backie.NewWorkerPool(backie.NewPgQueue(db, nil), backie.Config{})
	require.ErrorIs(t, err, backie.ErrInvalidConfig)

	// The zero Config is valid and gets the documented defaults.
	wp, err = backie.NewWorkerPool(env.q, backie.Config{})
	require.NoError(t, err)
	cfg := wp.Config()
	require.Equal(t, backie.WorkersDefault, cfg.Workers)
	require.Equal(t, backie.RemoveFinished, cfg.Retention)
	require.Equal(t, backie.PollIntervalDefault, cfg.PollInterval)
	require.Equal(t, backie.ShutdownGraceDefault, cfg.ShutdownGrace)
	require.Equal(t, backie.RescueIntervalDefault, cfg.RescueInterval)
	require.Equal(t, backie.RescueMarginDefault, cfg.RescueMargin)
	require.Equal(t, 200, cfg.ClaimAhead, "twice the workers, at least 200")
	require.NotNil(t, cfg.Logger)
	require.NoError(t, wp.Shutdown(context.Background()))
	for _, tc := range []struct{ workers, ahead, want int }{
		{300, backie.ClaimAheadDefault, 600}, {4, backie.NoClaimAhead, 0}, {4, 7, 7},
	} {
		wp, err = backie.NewWorkerPool(env.q, backie.Config{Workers: tc.workers, ClaimAhead: tc.ahead})
		require.NoError(t, err)
		require.Equal(t, tc.want, wp.Config().ClaimAhead, "workers %d, ClaimAhead %d", tc.workers, tc.ahead)
		require.NoError(t, wp.Shutdown(context.Background()))
	}
}

func TestWorkerPoolLifecycle(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 6})
	ran := make(chan struct{}, 1)
	env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error {
		ran <- struct{}{}
		return nil
	})
	bg := context.Background()

	t.Run("shutdown before start", func(t *testing.T) {
		wp, err := backie.NewWorkerPool(env.q, wpConfig(backie.Config{}))
		require.NoError(t, err)
		require.NoError(t, wp.Shutdown(bg))
		require.NoError(t, wp.Shutdown(bg), "second Shutdown")
		wpClosed(t, wp.Done(), "Done after Shutdown before Start")
		wp.Wait()
		require.ErrorIs(t, wp.Start(bg), backie.ErrPoolStopped)
	})

	t.Run("start with a cancelled context", func(t *testing.T) {
		wp, err := backie.NewWorkerPool(env.q, wpConfig(backie.Config{}))
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(bg)
		cancel()
		require.ErrorIs(t, wp.Start(ctx), context.Canceled)
		require.NoError(t, wp.Shutdown(bg))
		wpClosed(t, wp.Done(), "Done")
	})

	t.Run("start twice, shutdown twice, start after stop", func(t *testing.T) {
		wp, err := backie.NewWorkerPool(env.q, wpConfig(backie.Config{Workers: 2}))
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		require.NoError(t, wp.Start(ctx))
		require.ErrorIs(t, wp.Start(ctx), backie.ErrPoolStarted)
		select {
		case <-wp.Done():
			t.Fatal("Done closed while running")
		default:
		}
		// It works: a task runs.
		env.create(t, env.task(1))
		wpRecv(t, ran, "a task to run")
		env.eventuallyEmpty(t)

		sctx, scancel := context.WithTimeout(bg, wpWait)
		defer scancel()
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Go(func() { errs[i] = wp.Shutdown(sctx) })
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "concurrent Shutdown %d", i)
		}
		require.NoError(t, wp.Shutdown(sctx), "Shutdown after stop")
		wpClosed(t, wp.Done(), "Done after Shutdown")
		wp.Wait()
		require.ErrorIs(t, wp.Start(bg), backie.ErrPoolStopped)
		cancel() // cancelling the Start context after the stop is harmless
	})

	t.Run("start on an unmigrated schema", func(t *testing.T) {
		t.Parallel()
		empty := dbtest.Pool(t, dbtest.Options{MaxConns: 2, NoMigrate: true})
		wp, err := backie.NewWorkerPool(backie.NewPgQueue(empty, env.reg), wpConfig(backie.Config{}))
		require.NoError(t, err)
		err = wp.Start(bg)
		require.ErrorIs(t, err, backie.ErrMissingTable)
		// It can be shut down (it never started).
		require.NoError(t, wp.Shutdown(bg))
		wpClosed(t, wp.Done(), "Done")
	})

	t.Run("an empty registry fails at NewWorkerPool", func(t *testing.T) {
		wp, err := backie.NewWorkerPool(backie.NewPgQueue(db, backie.NewRegistry()), wpConfig(backie.Config{}))
		require.ErrorIs(t, err, backie.ErrInvalidConfig)
		require.ErrorContains(t, err, "the registry is empty")
		require.Nil(t, wp)
	})
}

// TestWorkerPoolGracefulStop cancels the Start context while tasks run:
// nothing new is claimed, the running tasks finish and are recorded, and the
// rest is left Ready for the next pool, which runs each exactly once.
func TestWorkerPoolGracefulStop(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 6})
	var runs wpRuns
	started := make(chan int, 16)
	release := make(chan struct{})
	env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, task *wpTask) error {
		runs.add(task.N)
		started <- task.N
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	const workers, total = 3, 8
	tasks := make([]*wpTask, total)
	for i := range tasks {
		tasks[i] = env.task(i)
	}
	recs := env.create(t, tasks...)

	wp, cancel := wpStart(t, env.q, backie.Config{Workers: workers, ShutdownGrace: time.Minute})
	running := map[int]bool{}
	for range workers {
		running[wpRecv(t, started, "a task to start")] = true
	}
	cancel()
	// Start takes the lock under which Shutdown stops claiming, so once it
	// reports ErrPoolStopped no new claim can begin.
	require.Eventually(t, func() bool {
		return errors.Is(wp.Start(context.Background()), backie.ErrPoolStopped)
	}, wpWait, time.Millisecond)
	select {
	case <-wp.Done():
		t.Fatal("the pool stopped before its running tasks finished")
	default:
	}
	close(release)
	wpStopped(t, wp)
	select {
	case n := <-started:
		t.Fatalf("task %d started during the graceful stop", n)
	default:
	}

	for i, rec := range recs {
		if running[i] {
			require.True(t, env.gone(t, rec.ID), "task %d finished during the stop must be removed", i)
			continue
		}
		got := env.find(t, rec.ID)
		require.Equal(t, backie.StateReady, got.State(), "task %d", i)
		// A task claimed ahead, waiting for a worker when the stop came, was
		// released at once: claimed once, no retry used.
		require.LessOrEqual(t, got.Attempt, 1, "task %d was claimed after the stop", i)
		require.Zero(t, got.Retries, "task %d", i)
	}

	// The next pool runs the rest; nothing runs twice.
	wpStart(t, env.q, backie.Config{Workers: workers})
	env.eventuallyEmpty(t)
	for i := range total {
		require.Equal(t, 1, runs.get(i), "runs of task %d", i)
	}
}

// TestWorkerPoolHardStop lets the shutdown grace run out while tasks wait
// for their context: their contexts are cancelled, and the tasks go back to
// Ready without using an attempt; the next pool runs them once.
func TestWorkerPoolHardStop(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 6})
	var runs wpRuns
	started := make(chan int, 4)
	returned := make(chan error, 4)
	env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, task *wpTask) error {
		rec, ok := backie.RecordFromContext(ctx)
		if !ok {
			return errors.New("no record in context")
		}
		if rec.Attempt == 1 {
			started <- task.N
			<-ctx.Done()
			returned <- ctx.Err()
			return ctx.Err()
		}
		runs.add(task.N)
		return nil
	})
	t1, t2 := env.task(1), env.task(2)
	t1.Retries, t2.Retries = 3, 3
	recs := env.create(t, t1, t2)

	wp, cancel := wpStart(t, env.q, backie.Config{Workers: 2, ShutdownGrace: 10 * time.Millisecond})
	wpRecv(t, started, "task to start")
	wpRecv(t, started, "task to start")
	cancel()
	wpStopped(t, wp)
	for range 2 {
		require.ErrorIs(t, wpRecv(t, returned, "task to return"), context.Canceled)
	}

	for _, rec := range recs {
		got := env.find(t, rec.ID)
		require.Equal(t, backie.StateReady, got.State())
		require.Nil(t, got.RunningAt)
		require.Nil(t, got.DoneAt)
		require.Nil(t, got.Error)
		require.Zero(t, got.Retries, "a released task must not use an attempt")
		require.Equal(t, 1, got.Attempt)
	}
	require.Zero(t, env.count(t, `SELECT count(*) FROM backie_tasks WHERE error_info IS NOT NULL OR running_at IS NOT NULL`))

	wpStart(t, env.q, backie.Config{Workers: 2})
	env.eventuallyEmpty(t)
	require.Equal(t, 1, runs.get(1))
	require.Equal(t, 1, runs.get(2))
}

// TestWorkerPoolTypesAndNames: tasks of task types the pool does not serve,
// and tasks whose names its registry does not know, are never claimed.
func TestWorkerPoolTypesAndNames(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 6})
	var runs wpRuns
	env := wpNewEnv(t, db, func(_ context.Context, _ backie.Queue, task *wpTask) error {
		runs.add(task.N)
		return nil
	})
	// The enqueuing side knows a task name the pool does not.
	enqReg := backie.NewRegistry()
	require.NoError(t, backie.Register[*wpTask](enqReg, "wp_task"))
	require.NoError(t, backie.Register[*wpOtherTask](enqReg, "wp_other"))
	enq := backie.NewPgQueue(db, enqReg)
	ctx := context.Background()

	other := env.task(1)
	other.Type = "other"
	otherRec, err := enq.CreateTask(ctx, other)
	require.NoError(t, err)
	unknownRec, err := enq.CreateTask(ctx, &wpOtherTask{Key: env.key})
	require.NoError(t, err)
	unknownCommon, err := enq.CreateTask(ctx, &wpOtherTask{Key: env.key + "2"})
	require.NoError(t, err)

	// One worker: the claim takes the oldest due task first, so the older
	// tasks would be claimed before the sentinel if they were claimable.
	wpStart(t, env.q, backie.Config{Workers: 1, TaskTypes: []backie.TaskType{backie.TaskTypeDefault}})
	sentinel := env.create(t, env.task(2))[0]
	env.eventuallyGone(t, sentinel.ID)
	require.Equal(t, 1, runs.get(2))

	for _, id := range []backie.TaskID{otherRec.ID, unknownRec.ID, unknownCommon.ID} {
		got := env.find(t, id)
		require.Equal(t, backie.StateReady, got.State())
		require.Zero(t, got.Attempt)
		require.Nil(t, got.Error)
	}
	require.Zero(t, runs.get(1))

	// A pool serving "other" runs the other-type task, still not the
	// unregistered ones.
	wpStart(t, env.q, backie.Config{Workers: 1, TaskTypes: []backie.TaskType{"other"}})
	env.eventuallyGone(t, otherRec.ID)
	require.Equal(t, 1, runs.get(1))
	sentinel = env.create(t, env.task(3))[0]
	env.eventuallyGone(t, sentinel.ID)
	require.Equal(t, int64(2), env.count(t, `SELECT count(*) FROM backie_tasks WHERE task_name = 'wp_other' AND attempt = 0 AND running_at IS NULL AND done_at IS NULL`))
}

// TestWorkerPoolNotifications: with a one-minute poll interval, a task
// enqueued while the pool is idle starts at once (LISTEN/NOTIFY); with
// notifications off, polling finds tasks and no connection LISTENs.
func TestWorkerPoolNotifications(t *testing.T) {
	t.Parallel()

	t.Run("notified", func(t *testing.T) {
		t.Parallel()
		db, other, app := wpAppPool(t, 4)
		done := make(chan int, 4)
		env := wpNewEnv(t, db, func(_ context.Context, _ backie.Queue, task *wpTask) error {
			done <- task.N
			return nil
		})
		wpStart(t, env.q, backie.Config{Workers: 2, PollInterval: time.Minute})
		env.create(t, env.task(1))
		require.Equal(t, 1, wpRecv(t, done, "first task"))
		// The pool is idle now; its listener is up.
		require.Eventually(t, func() bool {
			return wpCount(t, other, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN %'`, app) == 1
		}, wpWait, 10*time.Millisecond, "no LISTEN connection")
		for n := 2; n <= 4; n++ {
			start := time.Now()
			env.create(t, env.task(n))
			require.Equal(t, n, wpRecv(t, done, "notified task"))
			require.Less(t, time.Since(start), 5*time.Second, "a notified task must start well before the 1m poll interval")
		}
	})

	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		db, other, app := wpAppPool(t, 4)
		var runs atomic.Int64
		env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error {
			runs.Add(1)
			return nil
		})
		wpStart(t, env.q, backie.Config{Workers: 2, DisableNotifications: true, PollInterval: 50 * time.Millisecond})
		env.create(t, env.task(1))
		env.eventuallyEmpty(t)
		env.create(t, env.task(2), env.task(3))
		env.eventuallyEmpty(t)
		require.Equal(t, int64(3), runs.Load())
		require.Zero(t, wpCount(t, other, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, app))
	})
}

// TestWorkerPoolSurvivesLostConnections kills every connection of the pool,
// while idle and while a task runs: the pool reconnects and keeps working.
func TestWorkerPoolSurvivesLostConnections(t *testing.T) {
	t.Parallel()
	db, other, app := wpAppPool(t, 6)
	var runs atomic.Int64
	started := make(chan int, 1)
	release := make(chan struct{})
	env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, task *wpTask) error {
		if task.N < 0 { // the blocking task
			started <- task.N
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		runs.Add(1)
		return nil
	})
	env.checkOn(other) // enqueue and check on connections we do not kill
	create := func(tasks ...*wpTask) {
		for _, task := range tasks {
			env.create(t, task)
		}
	}
	kill := func() int64 {
		return wpCount(t, other, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
			FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`, app)
	}

	wp, _ := wpStart(t, env.q, backie.Config{Workers: 3, PollInterval: 50 * time.Millisecond})
	create(env.task(1))
	env.eventuallyEmpty(t)
	require.Eventually(t, func() bool {
		return wpCount(t, other, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN %'`, app) == 1
	}, wpWait, 10*time.Millisecond, "no LISTEN connection")

	// Idle: kill everything, then enqueue.
	require.Positive(t, kill(), "no connection of the pool was killed")
	for n := 2; n <= 21; n++ {
		create(env.task(n))
	}
	env.eventuallyEmpty(t)
	require.Equal(t, int64(21), runs.Load())

	// Busy: kill while a task runs; its result is still recorded.
	blocking := env.task(-1)
	create(blocking)
	wpRecv(t, started, "blocking task")
	require.Positive(t, kill(), "no connection of the pool was killed")
	close(release)
	env.eventuallyEmpty(t)
	require.Equal(t, int64(22), runs.Load())
	create(env.task(22), env.task(23))
	env.eventuallyEmpty(t)
	require.Equal(t, int64(24), runs.Load())
	select {
	case <-wp.Done():
		t.Fatal("the pool stopped")
	default:
	}
	// The listener is back.
	require.Eventually(t, func() bool {
		return wpCount(t, other, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN %'`, app) == 1
	}, wpWait, 10*time.Millisecond, "the listener did not reconnect")
}

// TestWorkerPoolClaimOrder: one worker runs due tasks oldest scheduled_at
// first, FIFO among equals, and leaves tasks scheduled for later alone.
func TestWorkerPoolClaimOrder(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	order := make(chan int, 16)
	env := wpNewEnv(t, db, func(_ context.Context, _ backie.Queue, task *wpTask) error {
		order <- task.N
		return nil
	})
	ctx := context.Background()
	base := time.Now().Add(-time.Minute)
	at := func(n int, when time.Time) {
		_, err := env.q.CreateTask(ctx, env.task(n), backie.RunAt(when))
		require.NoError(t, err)
	}
	at(4, base.Add(4*time.Second))
	at(1, base.Add(1*time.Second))
	at(5, base.Add(5*time.Second))
	// Three with the same scheduled_at, in one batch: in creation order.
	_, err := env.q.CreateTasks(ctx, []backie.Task{env.task(21), env.task(22), env.task(23)}, backie.RunAt(base.Add(2*time.Second)))
	require.NoError(t, err)
	at(3, base.Add(3*time.Second))
	later, err := env.q.CreateTask(ctx, env.task(99), backie.RunAfter(time.Hour))
	require.NoError(t, err)

	wpStart(t, env.q, backie.Config{Workers: 1})
	var got []int
	for range 7 {
		got = append(got, wpRecv(t, order, "a task to run"))
	}
	require.Equal(t, []int{1, 21, 22, 23, 3, 4, 5}, got)
	require.Eventually(t, func() bool {
		return env.count(t, `SELECT count(*) FROM backie_tasks`) == 1
	}, wpWait, 10*time.Millisecond)
	rec := env.find(t, later.ID)
	require.Equal(t, backie.StateScheduled, rec.State())
	require.Zero(t, rec.Attempt)
}

type wpCtxKey struct{}

// TestWorkerPoolContextValues: values of the context given to Start reach
// the tasks' contexts.
func TestWorkerPoolContextValues(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	seen := make(chan any, 1)
	env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, _ *wpTask) error {
		seen <- ctx.Value(wpCtxKey{})
		return nil
	})
	wp, err := backie.NewWorkerPool(env.q, wpConfig(backie.Config{Workers: 1}))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), wpCtxKey{}, "from Start"))
	defer cancel()
	require.NoError(t, wp.Start(ctx))
	env.create(t, env.task(1))
	require.Equal(t, "from Start", wpRecv(t, seen, "the task"))
	cancel()
	wpStopped(t, wp)
}
