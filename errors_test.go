package backie_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// enqCreateAll enqueues task with every create method (alone and at the end
// of a batch, on the pool and in a transaction that is then rolled back)
// and returns each method's error.
func enqCreateAll(t *testing.T, ctx context.Context, q *backie.PgQueue, pool *pgxpool.Pool, task backie.Task) map[string]error {
	t.Helper()
	errs := make(map[string]error)
	_, errs["CreateTask"] = q.CreateTask(ctx, task)
	_, errs["CreateTasks"] = q.CreateTasks(ctx, []backie.Task{task})
	_, errs["CreateTasks batch"] = q.CreateTasks(ctx, []backie.Task{&enqTask{N: 1}, task, &enqTask{N: 2}})
	tx, err := pool.Begin(t.Context())
	require.NoError(t, err)
	defer tx.Rollback(context.Background()) //nolint:errcheck // checked below
	_, errs["CreateTaskTx"] = q.CreateTaskTx(ctx, tx, task)
	tx2, err := pool.Begin(t.Context())
	require.NoError(t, err)
	defer tx2.Rollback(context.Background()) //nolint:errcheck // checked below
	_, errs["CreateTasksTx"] = q.CreateTasksTx(ctx, tx2, []backie.Task{&enqTask{N: 3}, task})
	require.NoError(t, tx.Rollback(t.Context()))
	require.NoError(t, tx2.Rollback(t.Context()))
	return errs
}

// enqBadInput checks that enqueueing task fails everywhere with an error
// wrapping want and containing msg, and leaves the table unchanged.
func enqBadInput(t *testing.T, task backie.Task, want error, msg string) {
	t.Helper()
	q, pool := enqQueue(t)
	seed, err := q.CreateTask(t.Context(), &enqUniqTask{Key: "seed"})
	require.NoError(t, err)

	for method, err := range enqCreateAll(t, t.Context(), q, pool, task) {
		require.ErrorIs(t, err, want, method)
		assert.Contains(t, err.Error(), msg, method)
	}
	assert.Equal(t, 1, enqCount(t, pool), "the table is unchanged")
	found, err := q.FindTask(t.Context(), seed.ID)
	require.NoError(t, err)
	enqRequireSameRecord(t, seed, found)
}

func TestBadInputNilTask(t *testing.T) {
	t.Parallel()
	t.Run("nil", func(t *testing.T) {
		t.Parallel()
		enqBadInput(t, nil, backie.ErrNilTask, "nil task")
	})
	t.Run("typed nil", func(t *testing.T) {
		t.Parallel()
		enqBadInput(t, (*enqTask)(nil), backie.ErrNilTask, "*backie_test.enqTask")
	})
	t.Run("typed nil whose methods dereference", func(t *testing.T) {
		t.Parallel()
		// enqUniqTask.Uniq reads a field: it must not be called on nil.
		enqBadInput(t, (*enqUniqTask)(nil), backie.ErrNilTask, "nil")
	})
	t.Run("typed nil of an unregistered type", func(t *testing.T) {
		t.Parallel()
		enqBadInput(t, (*enqUnregisteredTask)(nil), backie.ErrNilTask, "nil")
	})
}

func TestBadInputUnregistered(t *testing.T) {
	t.Parallel()
	t.Run("unregistered type", func(t *testing.T) {
		t.Parallel()
		enqBadInput(t, &enqUnregisteredTask{}, backie.ErrTaskNotRegistered, "enqUnregisteredTask")
	})
	t.Run("value of a type registered as pointer", func(t *testing.T) {
		t.Parallel()
		enqBadInput(t, enqValueOfPointerTask{}, backie.ErrTaskNotRegistered, "enqValueOfPointerTask")
	})
	t.Run("pointer to a type registered as value", func(t *testing.T) {
		t.Parallel()
		enqBadInput(t, &enqValueTask{}, backie.ErrTaskNotRegistered, "*backie_test.enqValueTask")
	})
}

// enqValueOfPointerTask has value methods, so both it and its pointer are
// Tasks; only the pointer is registered (in TestBadInputUnregistered).
type enqValueOfPointerTask struct{ backie.TaskDefaults }

func (enqValueOfPointerTask) Run(context.Context, backie.Queue) error { return nil }

func TestBadInputUnencodablePayload(t *testing.T) {
	t.Parallel()
	for name, task := range map[string]backie.Task{
		"chan":        &enqChanTask{C: make(chan int)},
		"nil chan":    &enqChanTask{},
		"func":        &enqFuncTask{F: func() {}},
		"NaN":         &enqFloatTask{F: math.NaN()},
		"+Inf":        &enqFloatTask{F: math.Inf(1)},
		"MarshalJSON": &enqMarshalErrTask{},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			enqBadInput(t, task, backie.ErrEncodePayload, "cannot encode")
		})
	}
}

func TestBadInputUniqHash(t *testing.T) {
	t.Parallel()
	t.Run("too long", func(t *testing.T) {
		t.Parallel()
		enqBadInput(t, &enqHashTask{Hash: strings.Repeat("h", backie.MaxTaskHashLen+1)}, backie.ErrInvalidUniqHash,
			"129 bytes")
	})
	t.Run("longest accepted", func(t *testing.T) {
		t.Parallel()
		q, pool := enqQueue(t)
		hash := strings.Repeat("h", backie.MaxTaskHashLen)
		rec, err := q.CreateTask(t.Context(), &enqHashTask{Hash: hash})
		require.NoError(t, err)
		assert.Equal(t, backie.TaskHash(hash), rec.UniqHash)
		assert.Equal(t, 1, enqCount(t, pool))
	})
	t.Run("Uniq fails", func(t *testing.T) {
		t.Parallel()
		// HashOf of a value JSON cannot encode used to be "", that is "not
		// unique", in silence.
		enqBadInput(t, &enqUnhashableTask{C: make(chan int)}, backie.ErrInvalidUniqHash, "json: unsupported type")
	})
	t.Run("NUL", func(t *testing.T) {
		t.Parallel()
		enqBadInput(t, &enqHashTask{Hash: "a\x00b"}, backie.ErrInvalidUniqHash, "NUL")
	})
	t.Run("HashOf fits", func(t *testing.T) {
		t.Parallel()
		assert.LessOrEqual(t, len(mustHash(t, strings.Repeat("long input ", 1000))), backie.MaxTaskHashLen)
	})
}

// enqUnhashableTask is unique by a field that JSON cannot encode.
type enqUnhashableTask struct {
	backie.TaskDefaults
	N int      `json:"n"`
	C chan int `json:"-"`
}

func (*enqUnhashableTask) Run(context.Context, backie.Queue) error { return nil }
func (t *enqUnhashableTask) Uniq() (backie.TaskHash, error)        { return backie.HashOf(t.C) }

func TestBadInputMissingTable(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, dbtest.Options{NoMigrate: true})
	q := backie.NewPgQueue(pool, enqRegistry(t))
	ctx := t.Context()
	id := uuid.Must(uuid.NewV7())

	for method, err := range enqCreateAll(t, ctx, q, pool, &enqTask{N: 1}) {
		require.ErrorIs(t, err, backie.ErrMissingTable, method)
		assert.Contains(t, err.Error(), "run the migrations", method)
	}
	_, err := q.CreateTask(ctx, &enqUniqTask{Key: "u"})
	require.ErrorIs(t, err, backie.ErrMissingTable, "unique CreateTask")
	_, err = q.FindTask(ctx, id)
	require.ErrorIs(t, err, backie.ErrMissingTable, "FindTask")
	require.ErrorIs(t, q.RemoveTask(ctx, id), backie.ErrMissingTable, "RemoveTask")
	_, err = q.RemoveTasksByType(ctx, backie.TaskTypeDefault)
	require.ErrorIs(t, err, backie.ErrMissingTable, "RemoveTasksByType")
	_, err = q.RemoveAllTasks(ctx)
	require.ErrorIs(t, err, backie.ErrMissingTable, "RemoveAllTasks")

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	require.ErrorIs(t, q.RemoveTaskTx(ctx, tx, id), backie.ErrMissingTable, "RemoveTaskTx")
	require.NoError(t, tx.Rollback(ctx))

	var table *string
	require.NoError(t, pool.QueryRow(ctx, `SELECT to_regclass('backie_tasks')::text`).Scan(&table))
	assert.Nil(t, table, "nothing created the table")
}

func TestBadInputPoolClosed(t *testing.T) {
	t.Parallel()
	schema := dbtest.Schema(t)
	pool := dbtest.PoolFor(t, schema, 2)
	other := dbtest.PoolFor(t, schema, 2)
	ctx := t.Context()
	require.NoError(t, backie.Migrate(ctx, pool, backie.MigrateConfig{}))
	q := backie.NewPgQueue(pool, enqRegistry(t))
	rec, err := q.CreateTask(ctx, &enqTask{N: 1})
	require.NoError(t, err)

	pool.Close()
	_, err = q.CreateTask(ctx, &enqTask{N: 2})
	require.ErrorIs(t, err, backie.ErrPoolClosed, "CreateTask")
	_, err = q.CreateTask(ctx, &enqUniqTask{Key: "u"})
	require.ErrorIs(t, err, backie.ErrPoolClosed, "unique CreateTask")
	_, err = q.CreateTasks(ctx, []backie.Task{&enqTask{N: 3}, &enqTask{N: 4}})
	require.ErrorIs(t, err, backie.ErrPoolClosed, "CreateTasks")
	_, err = q.FindTask(ctx, rec.ID)
	require.ErrorIs(t, err, backie.ErrPoolClosed, "FindTask")
	require.ErrorIs(t, q.RemoveTask(ctx, rec.ID), backie.ErrPoolClosed, "RemoveTask")
	_, err = q.RemoveTasksByType(ctx, backie.TaskTypeDefault)
	require.ErrorIs(t, err, backie.ErrPoolClosed, "RemoveTasksByType")
	_, err = q.RemoveAllTasks(ctx)
	require.ErrorIs(t, err, backie.ErrPoolClosed, "RemoveAllTasks")
	require.ErrorIs(t, backie.Migrate(ctx, pool, backie.MigrateConfig{}), backie.ErrPoolClosed, "Migrate")

	assert.Equal(t, 1, enqCount(t, other), "the table is unchanged")
}

func TestBadInputCancelledContext(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	seed, err := q.CreateTask(t.Context(), &enqTask{N: 1})
	require.NoError(t, err)

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel2()

	for _, tc := range []struct {
		ctx  context.Context
		want error
	}{{cancelled, context.Canceled}, {expired, context.DeadlineExceeded}} {
		ctx := tc.ctx
		for method, err := range enqCreateAll(t, ctx, q, pool, &enqTask{N: 2}) {
			require.ErrorIs(t, err, tc.want, method)
		}
		_, err = q.CreateTask(ctx, &enqUniqTask{Key: "u"})
		require.ErrorIs(t, err, tc.want, "unique CreateTask")
		_, err := q.FindTask(ctx, seed.ID)
		require.ErrorIs(t, err, tc.want, "FindTask")
		require.ErrorIs(t, q.RemoveTask(ctx, seed.ID), tc.want, "RemoveTask")
		_, err = q.RemoveTasksByType(ctx, backie.TaskTypeDefault)
		require.ErrorIs(t, err, tc.want, "RemoveTasksByType")
		_, err = q.RemoveAllTasks(ctx)
		require.ErrorIs(t, err, tc.want, "RemoveAllTasks")

		tx, err := pool.Begin(t.Context())
		require.NoError(t, err)
		require.ErrorIs(t, q.RemoveTaskTx(ctx, tx, seed.ID), tc.want, "RemoveTaskTx")
		_, err = q.RemoveTasksByTypeTx(ctx, tx, backie.TaskTypeDefault)
		require.ErrorIs(t, err, tc.want, "RemoveTasksByTypeTx")
		_, err = q.RemoveAllTasksTx(ctx, tx)
		require.ErrorIs(t, err, tc.want, "RemoveAllTasksTx")
		require.NoError(t, tx.Commit(t.Context()))

		require.ErrorIs(t, backie.Migrate(ctx, pool, backie.MigrateConfig{}), tc.want, "Migrate")
	}
	assert.Equal(t, 1, enqCount(t, pool), "the table is unchanged")
	found, err := q.FindTask(t.Context(), seed.ID)
	require.NoError(t, err)
	enqRequireSameRecord(t, seed, found)
}

// A CreateTask that waits (here for a table lock) returns promptly with the
// context's error when its context is cancelled.
func TestBadInputContextCancelledWhileWaiting(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()

	locker, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer locker.Rollback(context.Background()) //nolint:errcheck // rolled back below
	_, err = locker.Exec(ctx, `LOCK TABLE backie_tasks IN SHARE MODE`)
	require.NoError(t, err)

	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := q.CreateTask(callCtx, &enqTask{N: 1})
		done <- err
	}()
	blocked := enqWaitBlocked(t, pool, locker.Conn().PgConn().PID())
	cancel()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("CreateTask did not return after its context was cancelled")
	}
	require.ErrorIs(t, err, context.Canceled)

	// pgx sends the server a cancel request: the waiting insert ends
	// while the lock is still held, so it cannot land afterwards.
	require.Eventually(t, func() bool {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1) AND state = 'active'`, blocked).Scan(&n)
		return err == nil && n == 0
	}, 10*time.Second, 5*time.Millisecond, "the cancelled insert is still running")
	require.NoError(t, locker.Rollback(ctx))
	assert.Equal(t, 0, enqCount(t, pool), "the table is unchanged")
}

// A payload that encodes to JSON that jsonb refuses (a NUL character) is
// rejected as unencodable and stores nothing.
func TestBadInputPayloadWithNUL(t *testing.T) {
	t.Parallel()
	enqBadInput(t, &enqTask{N: 1, Note: "a\x00b"}, backie.ErrEncodePayload, "cannot encode")
	// An escaped backslash followed by "u0000" is not a NUL: it is stored.
	q, pool := enqQueue(t)
	rec, err := q.CreateTask(t.Context(), &enqTask{N: 2, Note: `a\u0000b`})
	require.NoError(t, err)
	found, err := q.FindTask(t.Context(), rec.ID)
	require.NoError(t, err)
	assert.JSONEq(t, `{"n":2,"note":"a\\u0000b"}`, string(found.Payload))
	assert.Equal(t, 1, enqCount(t, pool))
}

func TestBadInputInvalidConfig(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	reg := enqRegistry(t)
	ctx := t.Context()
	id := uuid.Must(uuid.NewV7())

	for name, q := range map[string]*backie.PgQueue{
		"nil pool":     backie.NewPgQueue(nil, reg),
		"nil registry": backie.NewPgQueue(pool, nil),
		"zero value":   {},
		"nil queue":    nil,
	} {
		_, err := q.CreateTask(ctx, &enqTask{})
		require.ErrorIs(t, err, backie.ErrInvalidConfig, name)
		_, err = q.CreateTasks(ctx, []backie.Task{&enqTask{}})
		require.ErrorIs(t, err, backie.ErrInvalidConfig, name)
		_, err = q.FindTask(ctx, id)
		require.ErrorIs(t, err, backie.ErrInvalidConfig, name)
		require.ErrorIs(t, q.RemoveTask(ctx, id), backie.ErrInvalidConfig, name)
		_, err = q.RemoveTasksByType(ctx, backie.TaskTypeDefault)
		require.ErrorIs(t, err, backie.ErrInvalidConfig, name)
		_, err = q.RemoveAllTasks(ctx)
		require.ErrorIs(t, err, backie.ErrInvalidConfig, name)

		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		_, err = q.CreateTaskTx(ctx, tx, &enqTask{})
		require.ErrorIs(t, err, backie.ErrInvalidConfig, name)
		_, err = q.CreateTasksTx(ctx, tx, []backie.Task{&enqTask{}})
		require.ErrorIs(t, err, backie.ErrInvalidConfig, name)
		require.ErrorIs(t, q.RemoveTaskTx(ctx, tx, id), backie.ErrInvalidConfig, name)
		_, err = q.RemoveTasksByTypeTx(ctx, tx, backie.TaskTypeDefault)
		require.ErrorIs(t, err, backie.ErrInvalidConfig, name)
		_, err = q.RemoveAllTasksTx(ctx, tx)
		require.ErrorIs(t, err, backie.ErrInvalidConfig, name)
		require.NoError(t, tx.Rollback(ctx))

		_, err = backie.NewWorkerPool(q, backie.Config{})
		require.ErrorIs(t, err, backie.ErrInvalidConfig, name)
	}
	require.ErrorIs(t, backie.Migrate(ctx, nil, backie.MigrateConfig{}), backie.ErrInvalidConfig)
	require.ErrorIs(t, backie.Register[*enqTask](nil, "x"), backie.ErrInvalidConfig)
	assert.Equal(t, 0, enqCount(t, pool))
}

func TestErrorSentinelsAreDistinct(t *testing.T) {
	t.Parallel()
	sentinels := []error{
		backie.ErrNilTask, backie.ErrTaskNotRegistered, backie.ErrTaskAlreadyRegistered,
		backie.ErrInvalidTaskName, backie.ErrInvalidTaskType, backie.ErrInvalidTask,
		backie.ErrEncodePayload, backie.ErrDecodePayload,
		backie.ErrInvalidUniqHash, backie.ErrMissingTable, backie.ErrMissingSchema, backie.ErrPoolClosed,
		backie.ErrInvalidConfig, backie.ErrNotFound, backie.ErrTaskTimeout,
		backie.ErrTaskPanicked, backie.ErrPoolStarted, backie.ErrPoolStopped,
	}
	for i, a := range sentinels {
		require.NotNil(t, a)
		// Like pgx's sentinels, they carry no prefix: the error a call
		// returns names the library once, at its outermost wrap.
		assert.NotContains(t, a.Error(), "backie", "%q", a)
		for j, b := range sentinels {
			if a == backie.ErrInvalidTaskType && b == backie.ErrInvalidTaskName {
				assert.ErrorIs(t, a, b, "a bad type is a bad name too")
				continue
			}
			if i != j {
				assert.NotErrorIs(t, a, b)
			}
		}
	}
}

// enqNulErrTask fails with an error whose text holds a NUL character.
type enqNulErrTask struct {
	backie.TaskDefaults
	Panic bool `json:"panic"`
}

func (t *enqNulErrTask) Run(context.Context, backie.Queue) error {
	if t.Panic {
		panic("bad\x00panic")
	}
	return errors.New("bad\x00error")
}
func (*enqNulErrTask) MaxRetries() int { return 0 }

// An error text that jsonb cannot store (a NUL) is still recorded: the
// task ends Failed instead of staying Running while its finishing write
// fails over and over.
func TestBadInputErrorWithNUL(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	reg := backie.NewRegistry()
	require.NoError(t, backie.Register[*enqNulErrTask](reg, "nul_err"))
	q := backie.NewPgQueue(pool, reg)
	ctx := t.Context()
	recs, err := q.CreateTasks(ctx, []backie.Task{&enqNulErrTask{}, &enqNulErrTask{Panic: true}})
	require.NoError(t, err)

	wp, err := backie.NewWorkerPool(q, backie.Config{Workers: 2, Retention: backie.KeepAll, Logger: backie.DiscardLogger()})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	require.NoError(t, wp.Start(runCtx))
	defer func() { stop(); wp.Wait() }()

	for i, want := range []string{"bad\uFFFDerror", "bad\uFFFDpanic"} {
		var found *backie.TaskRecord
		require.Eventually(t, func() bool {
			found, err = q.FindTask(ctx, recs[i].ID)
			return err == nil && found.State() == backie.StateFailed
		}, 15*time.Second, 5*time.Millisecond, "task %d did not end Failed", i)
		assert.Contains(t, found.Error.Message, want)
	}
}

// TestErrorMessagesNameTheLibraryOnce: an error names the library once, at
// its outermost wrap ("backie: create task: task type not registered:
// *main.B", not "backie: create task: backie: task type not registered").
func TestErrorMessagesNameTheLibraryOnce(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()
	empty := dbtest.Pool(t, dbtest.Options{NoMigrate: true})
	emptyQ := backie.NewPgQueue(empty, enqRegistry(t))
	closed := dbtest.Pool(t)
	closed.Close()
	closedQ := backie.NewPgQueue(closed, enqRegistry(t))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(context.Background()) //nolint:errcheck // a read-only transaction
	errOf := func(_ any, err error) error { return err }
	wp, err := backie.NewWorkerPool(q, backie.Config{Logger: backie.DiscardLogger()})
	require.NoError(t, err)
	emptyWP, err := backie.NewWorkerPool(emptyQ, backie.Config{Logger: backie.DiscardLogger()})
	require.NoError(t, err)

	for name, err := range map[string]error{
		"unregistered":          errOf(q.CreateTask(ctx, &enqUnregisteredTask{})),
		"unregistered in batch": errOf(q.CreateTasks(ctx, []backie.Task{&enqTask{}, &enqUnregisteredTask{}})),
		"nil task":              errOf(q.CreateTask(ctx, nil)),
		"unencodable":           errOf(q.CreateTask(ctx, &enqChanTask{C: make(chan int)})),
		"Uniq fails":            errOf(q.CreateTask(ctx, &enqUnhashableTask{C: make(chan int)})),
		"hash too long":         errOf(q.CreateTask(ctx, &enqHashTask{Hash: strings.Repeat("h", 200)})),
		"bad type":              errOf(q.CreateTask(ctx, &enqTypedTask{Type: "a\x00"})),
		"NUL in payload":        errOf(q.CreateTask(ctx, &enqTask{Note: "a\x00b"})),
		"in a transaction":      errOf(q.CreateTaskTx(ctx, tx, &enqUnregisteredTask{})),
		"nil transaction":       errOf(q.CreateTaskTx(ctx, nil, &enqTask{})),
		"cancelled context":     errOf(q.CreateTask(cancelled, &enqTask{})),
		"missing table":         errOf(emptyQ.CreateTask(ctx, &enqTask{})),
		"closed pool":           errOf(closedQ.CreateTask(ctx, &enqTask{})),
		"not found":             errOf(q.FindTask(ctx, uuid.Must(uuid.NewV7()))),
		"remove not found":      q.RemoveTask(ctx, uuid.Must(uuid.NewV7())),
		"register twice":        backie.Register[*enqTask](enqRegistry(t), "enq_task"),
		"register a bad name":   backie.Register[*enqTask](backie.NewRegistry(), ""),
		"register no payload":   backie.Register[*regOnlyUnexported](backie.NewRegistry(), "x"),
		"bad config":            errOf(backie.NewWorkerPool(q, backie.Config{Workers: -1})),
		"empty registry":        errOf(backie.NewWorkerPool(backie.NewPgQueue(pool, backie.NewRegistry()), backie.Config{})),
		"start on no table":     emptyWP.Start(ctx),
		"migrate a closed pool": backie.Migrate(ctx, closed, backie.MigrateConfig{}),
		"migrate nil":           backie.Migrate(ctx, nil, backie.MigrateConfig{}),
	} {
		require.Error(t, err, name)
		msg := err.Error()
		assert.True(t, strings.HasPrefix(msg, "backie: "), "%s: %q", name, msg)
		assert.Equal(t, 1, strings.Count(msg, "backie:"), "%s: %q", name, msg)
	}
	require.NoError(t, wp.Shutdown(ctx))
	require.NoError(t, emptyWP.Shutdown(ctx))
	assert.Equal(t, "backie: create task: task type not registered: *backie_test.enqUnregisteredTask",
		errOf(q.CreateTask(ctx, &enqUnregisteredTask{})).Error())
}
