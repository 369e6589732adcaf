package backie_test

// Helpers shared by the test files of package backie_test: the worker pool
// tests' task, environment and waits (prefixed wp), and the enqueue-side
// tests' registry, queue and checks (prefixed enq).

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// mustHash returns backie.HashOf(v), failing the test on an error.
func mustHash(t testing.TB, v any) backie.TaskHash {
	t.Helper()
	h, err := backie.HashOf(v)
	require.NoError(t, err)
	return h
}

// wpWait bounds every wait of these tests for something that should happen
// within milliseconds.
const wpWait = 15 * time.Second

// wpHook is what a wpTask does: each test registers wpTask with a
// constructor that gives its tasks the test's own hook.
type wpHook func(ctx context.Context, q backie.Queue, t *wpTask) error

var wpKeySeq atomic.Int64

// wpTask is the task of the worker pool tests. Its payload chooses its
// settings, and its behaviour is the hook of its test.
type wpTask struct {
	backie.TaskDefaults
	hook      wpHook // set by the constructor the test registers
	Key       string `json:"key"`
	N         int    `json:"n"`
	Type      string `json:"type,omitempty"`
	Retries   int    `json:"retries"`
	BackoffMS int64  `json:"backoff_ms"`
	TimeoutMS int64  `json:"timeout_ms,omitempty"`
}

func (t *wpTask) Run(ctx context.Context, q backie.Queue) error {
	if t.hook == nil {
		return fmt.Errorf("wpTask: no hook (key %q)", t.Key)
	}
	return t.hook(ctx, q, t)
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
	// written receives a signal when a pool on q has written finished
	// attempts: the waits below look at the table when it does.
	written chan struct{}
	hook    wpHook
	db      *pgxpool.Pool
	reg     *backie.Registry
	q       *backie.PgQueue
	key     string
	cdb     *pgxpool.Pool
	cq      *backie.PgQueue
}

// checkOn makes the test's own statements run on db.
func (e *wpEnv) checkOn(db *pgxpool.Pool) {
	e.cdb, e.cq = db, backie.NewPgQueue(db, e.reg)
}

// wpNewEnv returns a queue on db that knows wpTask as "wp_task", with hook
// as what its tasks do.
func wpNewEnv(t testing.TB, db *pgxpool.Pool, hook wpHook) *wpEnv {
	t.Helper()
	key := fmt.Sprintf("%s#%d", t.Name(), wpKeySeq.Add(1))
	reg := backie.NewRegistry()
	require.NoError(t, wpRegister(reg, hook))
	q := backie.NewPgQueue(db, reg)
	written := make(chan struct{}, 1)
	backie.SetAfterFinishForTest(q, func() {
		select {
		case written <- struct{}{}:
		default:
		}
	})
	return &wpEnv{hook: hook, db: db, reg: reg, q: q, key: key, cdb: db, cq: q, written: written}
}

// wpRegister registers wpTask as "wp_task" in reg, running hook.
func wpRegister(reg *backie.Registry, hook wpHook) error {
	return backie.RegisterFunc(reg, "wp_task", func() *wpTask { return &wpTask{hook: hook} })
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
	e.await(t, func() bool {
		last = e.find(t, id)
		return cond(last)
	}, msg)
	return last
}

// eventuallyGone waits until the task id is removed.
func (e *wpEnv) eventuallyGone(t testing.TB, id backie.TaskID) {
	t.Helper()
	e.await(t, func() bool { return e.gone(t, id) }, fmt.Sprintf("task %s was not removed", id))
}

// eventuallyEmpty waits until the table is empty.
func (e *wpEnv) eventuallyEmpty(t testing.TB) {
	t.Helper()
	e.await(t, func() bool {
		return e.count(t, `SELECT count(*) FROM backie_tasks`) == 0
	}, "backie_tasks was not emptied")
}

// wpRecheck is how often await looks at the table without a signal, for
// changes no write of finished attempts makes (a claim, another queue).
const wpRecheck = 200 * time.Millisecond

// await checks cond whenever a pool on e.q has written finished attempts
// (and every wpRecheck), until it holds or wpWait has passed.
func (e *wpEnv) await(t testing.TB, cond func() bool, msg string) {
	t.Helper()
	deadline := time.NewTimer(wpWait)
	defer deadline.Stop()
	recheck := time.NewTicker(wpRecheck)
	defer recheck.Stop()
	for !cond() {
		select {
		case <-e.written:
		case <-recheck.C:
		case <-deadline.C:
			t.Fatalf("after %v: %s", wpWait, msg)
		}
	}
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
	// The leader's work (rescue, counts) follows its heartbeat.
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 50 * time.Millisecond
	}
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = 5 * time.Second
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

func enqRegistry(t testing.TB) *backie.Registry {
	t.Helper()
	reg := backie.NewRegistry()
	require.NoError(t, backie.Register[*enqTask](reg, "enq_task"))
	require.NoError(t, backie.Register[*enqMailTask](reg, "enq_mail"))
	require.NoError(t, backie.Register[*enqUniqTask](reg, "enq_uniq"))
	require.NoError(t, backie.Register[*enqOddTask](reg, "enq_odd"))
	require.NoError(t, backie.Register[*enqHashTask](reg, "enq_hash"))
	require.NoError(t, backie.Register[*enqChanTask](reg, "enq_chan"))
	require.NoError(t, backie.Register[*enqFuncTask](reg, "enq_func"))
	require.NoError(t, backie.Register[*enqFloatTask](reg, "enq_float"))
	require.NoError(t, backie.Register[*enqMarshalErrTask](reg, "enq_marshal_err"))
	require.NoError(t, backie.Register[*enqUnhashableTask](reg, "enq_unhashable"))
	require.NoError(t, backie.Register[*enqTypedTask](reg, "enq_typed"))
	require.NoError(t, backie.Register[enqValueTask](reg, "enq_value"))
	return reg
}

// enqQueue returns a queue on a fresh migrated schema, and its pool.
func enqQueue(t testing.TB) (*backie.PgQueue, *pgxpool.Pool) {
	t.Helper()
	pool := dbtest.Pool(t)
	return backie.NewPgQueue(pool, enqRegistry(t)), pool
}

type enqQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// enqCount returns the number of rows of backie_tasks seen by db.
func enqCount(t testing.TB, db enqQuerier) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(context.Background(), `SELECT count(*) FROM backie_tasks`).Scan(&n))
	return n
}

// enqSQLState derives a row's state in SQL, straight from the table of
// states in SPEC.md.
func enqSQLState(t testing.TB, db enqQuerier, id backie.TaskID) backie.TaskState {
	t.Helper()
	var s string
	require.NoError(t, db.QueryRow(context.Background(), `
		SELECT CASE
			WHEN done_at IS NOT NULL AND error_info IS NOT NULL THEN 'failed'
			WHEN done_at IS NOT NULL THEN 'done'
			WHEN running_at IS NOT NULL THEN 'running'
			WHEN scheduled_at > now() THEN 'scheduled'
			ELSE 'ready'
		END FROM backie_tasks WHERE id = $1`, id).Scan(&s))
	return backie.TaskState(s)
}

// enqRequireSameRecord checks that got is the record want.
func enqRequireSameRecord(t testing.TB, want, got *backie.TaskRecord) {
	t.Helper()
	require.NotNil(t, got)
	assert.Equal(t, want.ID, got.ID, "ID")
	assert.Equal(t, want.Name, got.Name, "Name")
	assert.Equal(t, want.Type, got.Type, "Type")
	assert.Equal(t, want.UniqHash, got.UniqHash, "UniqHash")
	assert.JSONEq(t, string(want.Payload), string(got.Payload), "Payload")
	assert.Equal(t, want.Timeout, got.Timeout, "Timeout")
	assert.True(t, want.CreatedAt.Equal(got.CreatedAt), "CreatedAt %v != %v", want.CreatedAt, got.CreatedAt)
	assert.True(t, want.ScheduledAt.Equal(got.ScheduledAt), "ScheduledAt %v != %v", want.ScheduledAt, got.ScheduledAt)
	assert.Equal(t, want.RunningAt == nil, got.RunningAt == nil, "RunningAt")
	assert.Equal(t, want.DoneAt == nil, got.DoneAt == nil, "DoneAt")
	assert.Equal(t, want.Error, got.Error, "Error")
	assert.Equal(t, want.Retries, got.Retries, "Retries")
	assert.Equal(t, want.MaxRetries, got.MaxRetries, "MaxRetries")
	assert.Equal(t, want.Attempt, got.Attempt, "Attempt")
}

// enqWaitBlocked waits until some backend is blocked by the backend pid,
// and returns the blocked backends' pids.
func enqWaitBlocked(t testing.TB, db enqQuerier, pid uint32) []int32 {
	t.Helper()
	var blocked []int32
	require.Eventually(t, func() bool {
		err := db.QueryRow(context.Background(),
			`SELECT coalesce(array_agg(pid), '{}') FROM pg_stat_activity WHERE $1::int = ANY(pg_blocking_pids(pid))`,
			int(pid)).Scan(&blocked)
		return err == nil && len(blocked) > 0
	}, 10*time.Second, 2*time.Millisecond, "no backend became blocked by pid %d", pid)
	return blocked
}
