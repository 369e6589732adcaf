package backie_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// This file holds the worker pool tests' helpers (prefixed wp) and the tests
// of the pool's life cycle: start, stop, types and names, notifications and
// database trouble.

// wpWait bounds every wait of these tests for something that should happen
// within milliseconds.
const wpWait = 15 * time.Second

// wpHook is what a wpTask does; each test installs its own under a key that
// its tasks carry in their payload.
type wpHook func(ctx context.Context, q backie.Queue, t *wpTask) error

var (
	wpHooks  sync.Map // key -> wpHook
	wpKeySeq atomic.Int64
)

// wpTask is the task of the worker pool tests. Its payload chooses its
// settings, and its behaviour is the hook of its test.
type wpTask struct {
	backie.TaskDefaults
	Key       string `json:"key"`
	N         int    `json:"n"`
	Type      string `json:"type,omitempty"`
	Retries   int    `json:"retries"`
	BackoffMS int64  `json:"backoff_ms"`
	TimeoutMS int64  `json:"timeout_ms,omitempty"`
}

func (t *wpTask) Run(ctx context.Context, q backie.Queue) error {
	h, ok := wpHooks.Load(t.Key)
	if !ok {
		return fmt.Errorf("wpTask: no hook for key %q", t.Key)
	}
	return h.(wpHook)(ctx, q, t)
}

func (t *wpTask) TaskType() backie.TaskType {
	if t.Type == "" {
		return backie.TaskTypeDefault
	}
	return backie.TaskType(t.Type)
}

func (t *wpTask) MaxRetries() int { return t.Retries }

func (t *wpTask) Backoff(int) time.Duration { return time.Duration(t.BackoffMS) * time.Millisecond }

func (t *wpTask) Timeout() time.Duration {
	if t.TimeoutMS > 0 {
		return time.Duration(t.TimeoutMS) * time.Millisecond
	}
	return backie.TaskTimeoutDefault
}

// wpOtherTask is registered only in the registries that enqueue it, never
// in a pool's: pools must leave it alone.
type wpOtherTask struct {
	backie.TaskDefaults
	Key string `json:"key"`
}

func (t *wpOtherTask) Run(ctx context.Context, q backie.Queue) error {
	return fmt.Errorf("wpOtherTask must never run (key %q)", t.Key)
}

// wpEnv is one test's database, registry, queue and hook. The test's own
// statements (create, find, count) run on cdb and cq, which are db and q
// unless the test kills db's connections.
type wpEnv struct {
	db  *pgxpool.Pool
	reg *backie.Registry
	q   *backie.PgQueue
	key string
	cdb *pgxpool.Pool
	cq  *backie.PgQueue
}

// checkOn makes the test's own statements run on db.
func (e *wpEnv) checkOn(db *pgxpool.Pool) {
	e.cdb, e.cq = db, backie.NewPgQueue(db, e.reg)
}

// wpNewEnv installs hook for the tasks made by the returned env's task
// method and returns a queue on db that knows wpTask as "wp_task".
func wpNewEnv(t testing.TB, db *pgxpool.Pool, hook wpHook) *wpEnv {
	t.Helper()
	key := fmt.Sprintf("%s#%d", t.Name(), wpKeySeq.Add(1))
	wpHooks.Store(key, hook)
	t.Cleanup(func() { wpHooks.Delete(key) })
	reg := backie.NewRegistry()
	require.NoError(t, backie.Register[*wpTask](reg, "wp_task"))
	q := backie.NewPgQueue(db, reg)
	return &wpEnv{db: db, reg: reg, q: q, key: key, cdb: db, cq: q}
}

// task returns a wpTask of env with number n, never retried by default.
func (e *wpEnv) task(n int) *wpTask { return &wpTask{Key: e.key, N: n} }

// create enqueues tasks and returns their records.
func (e *wpEnv) create(t testing.TB, tasks ...*wpTask) []*backie.TaskRecord {
	t.Helper()
	ts := make([]backie.Task, len(tasks))
	for i, task := range tasks {
		ts[i] = task
	}
	recs, err := e.cq.CreateTasks(context.Background(), ts)
	require.NoError(t, err)
	require.Len(t, recs, len(tasks))
	return recs
}

// find returns the stored record of id, failing the test if it is gone.
func (e *wpEnv) find(t testing.TB, id backie.TaskID) *backie.TaskRecord {
	t.Helper()
	rec, err := e.cq.FindTask(context.Background(), id)
	require.NoError(t, err)
	return rec
}

// gone reports whether the task id has been removed.
func (e *wpEnv) gone(t testing.TB, id backie.TaskID) bool {
	t.Helper()
	_, err := e.cq.FindTask(context.Background(), id)
	if errors.Is(err, backie.ErrNotFound) {
		return true
	}
	require.NoError(t, err)
	return false
}

// count runs a query returning one integer.
func (e *wpEnv) count(t testing.TB, sql string, args ...any) int64 {
	t.Helper()
	return wpCount(t, e.cdb, sql, args...)
}

func wpCount(t testing.TB, db *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// eventually waits until the task id satisfies cond.
func (e *wpEnv) eventually(t testing.TB, id backie.TaskID, cond func(*backie.TaskRecord) bool, msg string) *backie.TaskRecord {
	t.Helper()
	var last *backie.TaskRecord
	require.Eventually(t, func() bool {
		last = e.find(t, id)
		return cond(last)
	}, wpWait, 10*time.Millisecond, msg)
	return last
}

// eventuallyGone waits until the task id is removed.
func (e *wpEnv) eventuallyGone(t testing.TB, id backie.TaskID) {
	t.Helper()
	require.Eventually(t, func() bool { return e.gone(t, id) }, wpWait, 10*time.Millisecond, "task %s was not removed", id)
}

// eventuallyEmpty waits until the table is empty.
func (e *wpEnv) eventuallyEmpty(t testing.TB) {
	t.Helper()
	require.Eventually(t, func() bool {
		return e.count(t, `SELECT count(*) FROM backie_tasks`) == 0
	}, wpWait, 10*time.Millisecond, "backie_tasks was not emptied")
}

func wpFinished(r *backie.TaskRecord) bool { return r.DoneAt != nil }

// wpConfig fills in the short settings the tests use.
func wpConfig(cfg backie.Config) backie.Config {
	if cfg.Logger == nil {
		cfg.Logger = backie.DiscardLogger()
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.RescueInterval == 0 {
		cfg.RescueInterval = 100 * time.Millisecond
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 2 * time.Second
	}
	return cfg
}

// wpStart starts a pool on q with wpConfig(cfg); it is stopped when the test
// ends, and the returned function begins its stop earlier.
func wpStart(t testing.TB, q *backie.PgQueue, cfg backie.Config) (*backie.WorkerPool, context.CancelFunc) {
	t.Helper()
	wp, err := backie.NewWorkerPool(q, wpConfig(cfg))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, wp.Start(ctx))
	t.Cleanup(func() {
		cancel()
		wpStopped(t, wp)
	})
	return wp, cancel
}

// wpStopped waits for wp to stop completely.
func wpStopped(t testing.TB, wp *backie.WorkerPool) {
	t.Helper()
	select {
	case <-wp.Done():
	case <-time.After(wpWait):
		t.Errorf("worker pool did not stop within %v", wpWait)
	}
}

// wpRecv receives from ch within wpWait.
func wpRecv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wpWait):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// wpClosed waits for ch to be closed within wpWait.
func wpClosed(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wpWait):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// wpRuns counts the runs of each task number.
type wpRuns struct {
	mu sync.Mutex
	n  map[int]int
}

func (r *wpRuns) add(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = make(map[int]int)
	}
	r.n[n]++
}

func (r *wpRuns) get(n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[n]
}

func (r *wpRuns) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s int
	for _, c := range r.n {
		s += c
	}
	return s
}

// wpAppPool returns a pool on a fresh migrated schema whose connections
// carry a unique application_name, so that a test can find (and kill) them
// in pg_stat_activity, and a second small pool on the same schema for the
// test's own statements.
func wpAppPool(t testing.TB, maxConns int32) (db, other *pgxpool.Pool, appName string) {
	t.Helper()
	schema := dbtest.Schema(t)
	other = dbtest.PoolFor(t, schema, 2)
	ctx := context.Background()
	require.NoError(t, backie.Migrate(ctx, other, backie.MigrateConfig{}))
	cfg, err := pgxpool.ParseConfig(dbtest.URL(t))
	require.NoError(t, err)
	appName = "wp_" + schema
	cfg.MaxConns = maxConns
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.ConnConfig.RuntimeParams["application_name"] = appName
	db, err = pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	return db, other, appName
}

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
	require.NotNil(t, cfg.Logger)
	require.NoError(t, wp.Shutdown(context.Background()))
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

	t.Run("start with an empty registry", func(t *testing.T) {
		wp, err := backie.NewWorkerPool(backie.NewPgQueue(db, backie.NewRegistry()), wpConfig(backie.Config{}))
		require.NoError(t, err)
		require.ErrorIs(t, wp.Start(bg), backie.ErrTaskNotRegistered)
		require.NoError(t, wp.Shutdown(bg))
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
		require.Zero(t, got.Attempt, "task %d was claimed", i)
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
