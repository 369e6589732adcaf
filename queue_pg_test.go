package backie_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// Task types of the enqueue-side tests. Their names start with enq so that
// they do not collide with other test files of package backie_test.

// enqTask uses every default.
type enqTask struct {
	backie.TaskDefaults
	N    int    `json:"n"`
	Note string `json:"note,omitempty"`
}

func (*enqTask) Run(context.Context, backie.Queue) error { return nil }

// enqMailTask overrides every default but Backoff.
type enqMailTask struct {
	backie.TaskDefaults
	To string `json:"to"`
}

func (*enqMailTask) Run(context.Context, backie.Queue) error { return nil }
func (*enqMailTask) TaskType() backie.TaskType               { return "mail" }
func (*enqMailTask) MaxRetries() int                         { return 3 }
func (*enqMailTask) Timeout() time.Duration                  { return 1500 * time.Millisecond }

// enqUniqTask is unique by Key; Extra is not part of the hash.
type enqUniqTask struct {
	backie.TaskDefaults
	Key   string `json:"key"`
	Extra int    `json:"extra"`
}

func (*enqUniqTask) Run(context.Context, backie.Queue) error { return nil }
func (t *enqUniqTask) Uniq() (backie.TaskHash, error)        { return backie.HashOf(t.Key) }

// enqOddTask returns odd values from the methods that PgQueue normalises.
type enqOddTask struct {
	backie.TaskDefaults
	Tmo   time.Duration `json:"tmo"`
	Retry int           `json:"retry"`
	Type  string        `json:"type"`
}

func (*enqOddTask) Run(context.Context, backie.Queue) error { return nil }
func (t *enqOddTask) Timeout() time.Duration                { return t.Tmo }
func (t *enqOddTask) MaxRetries() int                       { return t.Retry }
func (t *enqOddTask) TaskType() backie.TaskType             { return backie.TaskType(t.Type) }

// enqHashTask returns Hash, whatever it is, from Uniq.
type enqHashTask struct {
	backie.TaskDefaults
	Hash string `json:"hash"`
}

func (*enqHashTask) Run(context.Context, backie.Queue) error { return nil }
func (t *enqHashTask) Uniq() (backie.TaskHash, error)        { return backie.TaskHash(t.Hash), nil }

// Tasks whose payload cannot be encoded as JSON.
type (
	enqChanTask struct {
		backie.TaskDefaults
		C chan int
	}
	enqFuncTask struct {
		backie.TaskDefaults
		F func()
	}
	enqFloatTask struct {
		backie.TaskDefaults
		F float64
	}
	enqMarshalErrTask struct{ backie.TaskDefaults }
)

func (*enqChanTask) Run(context.Context, backie.Queue) error       { return nil }
func (*enqFuncTask) Run(context.Context, backie.Queue) error       { return nil }
func (*enqFloatTask) Run(context.Context, backie.Queue) error      { return nil }
func (*enqMarshalErrTask) Run(context.Context, backie.Queue) error { return nil }
func (*enqMarshalErrTask) MarshalJSON() ([]byte, error) {
	return nil, fmt.Errorf("enqMarshalErrTask refuses")
}

// enqValueTask is registered as a value type, not a pointer.
type enqValueTask struct {
	backie.TaskDefaults
	N int `json:"n"`
}

func (enqValueTask) Run(context.Context, backie.Queue) error { return nil }

// enqUnregisteredTask is never registered.
type enqUnregisteredTask struct{ backie.TaskDefaults }

func (*enqUnregisteredTask) Run(context.Context, backie.Queue) error { return nil }

func TestPgQueueCreateTaskReturnsStoredRecord(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()

	var before time.Time
	require.NoError(t, pool.QueryRow(ctx, `SELECT now()`).Scan(&before))
	rec, err := q.CreateTask(ctx, &enqMailTask{To: "a@b.c"})
	require.NoError(t, err)

	assert.NotEqual(t, uuid.Nil, rec.ID)
	assert.Equal(t, uuid.Version(7), rec.ID.Version(), "ids are UUIDv7")
	assert.Equal(t, "enq_mail", rec.Name)
	assert.Equal(t, backie.TaskType("mail"), rec.Type)
	assert.Equal(t, backie.TaskHash(""), rec.UniqHash)
	assert.JSONEq(t, `{"to":"a@b.c"}`, string(rec.Payload))
	assert.Equal(t, 1500*time.Millisecond, rec.Timeout)
	assert.Equal(t, 3, rec.MaxRetries)
	assert.Zero(t, rec.Retries)
	assert.Zero(t, rec.Attempt)
	assert.Nil(t, rec.RunningAt)
	assert.Nil(t, rec.DoneAt)
	assert.Nil(t, rec.Error)
	assert.False(t, rec.CreatedAt.Before(before), "created_at %v before %v", rec.CreatedAt, before)
	assert.WithinDuration(t, time.Now(), rec.CreatedAt, 10*time.Second)
	assert.True(t, rec.ScheduledAt.Equal(rec.CreatedAt), "a task enqueued now is due now")
	assert.Equal(t, backie.StateReady, rec.State())

	// The row holds exactly that.
	var (
		timeoutMS  int64
		maxRetries int
		hash       *string
		payload    map[string]any
	)
	require.NoError(t, pool.QueryRow(ctx,
		`SELECT timeout_msecs, max_retries, uniq_hash, payload FROM backie_tasks WHERE id = $1`, rec.ID).
		Scan(&timeoutMS, &maxRetries, &hash, &payload))
	assert.Equal(t, int64(1500), timeoutMS)
	assert.Equal(t, 3, maxRetries)
	assert.Nil(t, hash, "a task that is not unique stores NULL, not ''")
	assert.Equal(t, map[string]any{"to": "a@b.c"}, payload)
	assert.Equal(t, backie.StateReady, enqSQLState(t, pool, rec.ID))

	found, err := q.FindTask(ctx, rec.ID)
	require.NoError(t, err)
	enqRequireSameRecord(t, rec, found)
	assert.Equal(t, 1, enqCount(t, pool))
}

func TestPgQueueCreateTaskDefaults(t *testing.T) {
	t.Parallel()
	q, _ := enqQueue(t)
	ctx := t.Context()

	rec, err := q.CreateTask(ctx, &enqTask{N: 7})
	require.NoError(t, err)
	assert.Equal(t, "enq_task", rec.Name)
	assert.Equal(t, backie.TaskTypeDefault, rec.Type)
	assert.Equal(t, backie.TaskTimeoutDefault, rec.Timeout)
	assert.Equal(t, 120000*time.Millisecond, rec.Timeout, "the original's 120000 ms")
	assert.Equal(t, backie.MaxRetriesDefault, rec.MaxRetries)
	assert.Equal(t, 20, rec.MaxRetries)
	assert.JSONEq(t, `{"n":7}`, string(rec.Payload))

	// Odd values are normalised, and the returned record is what is stored.
	for _, tc := range []struct {
		name        string
		task        *enqOddTask
		wantTimeout time.Duration
		wantRetries int
		wantType    backie.TaskType
	}{
		{"zero", &enqOddTask{}, backie.TaskTimeoutDefault, 0, backie.TaskTypeDefault},
		{"negative", &enqOddTask{Tmo: -time.Second, Retry: -1}, backie.TaskTimeoutDefault, 0, backie.TaskTypeDefault},
		{"custom", &enqOddTask{Tmo: 42 * time.Second, Retry: 5, Type: "x"}, 42 * time.Second, 5, "x"},
		{"sub-millisecond", &enqOddTask{Tmo: time.Microsecond}, time.Millisecond, 0, backie.TaskTypeDefault},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := q.CreateTask(ctx, tc.task)
			require.NoError(t, err)
			assert.Equal(t, tc.wantTimeout, rec.Timeout)
			assert.Equal(t, tc.wantRetries, rec.MaxRetries)
			assert.Equal(t, tc.wantType, rec.Type)
			found, err := q.FindTask(ctx, rec.ID)
			require.NoError(t, err)
			enqRequireSameRecord(t, rec, found)
		})
	}
}

func TestPgQueueCreateTaskStoredEqualsReturned(t *testing.T) {
	t.Parallel()
	q, _ := enqQueue(t)
	ctx := t.Context()
	// Values that whole milliseconds or an integer column cannot hold: the
	// record CreateTask returns must still be the stored one.
	for _, tc := range []struct {
		task        *enqOddTask
		wantTimeout time.Duration
		wantRetries int
	}{
		{&enqOddTask{Tmo: 1500 * time.Microsecond}, time.Millisecond, 0},
		{&enqOddTask{Tmo: time.Second + time.Nanosecond}, time.Second, 0},
		{&enqOddTask{Tmo: time.Hour, Retry: 1 << 40}, time.Hour, 1<<31 - 1},
	} {
		rec, err := q.CreateTask(ctx, tc.task)
		require.NoError(t, err)
		assert.Equal(t, tc.wantTimeout, rec.Timeout)
		assert.Equal(t, tc.wantRetries, rec.MaxRetries)
		found, err := q.FindTask(ctx, rec.ID)
		require.NoError(t, err)
		enqRequireSameRecord(t, rec, found)
	}
}

func TestPgQueueFindTaskNotFound(t *testing.T) {
	t.Parallel()
	q, _ := enqQueue(t)
	id := uuid.Must(uuid.NewV7())
	rec, err := q.FindTask(t.Context(), id)
	require.ErrorIs(t, err, backie.ErrNotFound)
	assert.Nil(t, rec)
	assert.Contains(t, err.Error(), id.String(), "the error names the id")
}

func TestPgQueueUniqueTaskReturnsExisting(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()

	first, err := q.CreateTask(ctx, &enqUniqTask{Key: "k", Extra: 1})
	require.NoError(t, err)
	assert.Equal(t, mustHash(t, "k"), first.UniqHash)

	second, err := q.CreateTask(ctx, &enqUniqTask{Key: "k", Extra: 2})
	require.NoError(t, err)
	enqRequireSameRecord(t, first, second)
	assert.JSONEq(t, `{"key":"k","extra":1}`, string(second.Payload), "the existing task is returned, not the new one")
	assert.Equal(t, 1, enqCount(t, pool))

	other, err := q.CreateTask(ctx, &enqUniqTask{Key: "other"})
	require.NoError(t, err)
	assert.NotEqual(t, first.ID, other.ID)
	assert.Equal(t, 2, enqCount(t, pool))

	// A Running task is unfinished: still the same record.
	_, err = pool.Exec(ctx, `UPDATE backie_tasks SET running_at = now(), attempt = 1 WHERE id = $1`, first.ID)
	require.NoError(t, err)
	again, err := q.CreateTask(ctx, &enqUniqTask{Key: "k", Extra: 3})
	require.NoError(t, err)
	assert.Equal(t, first.ID, again.ID)
	assert.Equal(t, backie.StateRunning, again.State())
	assert.Equal(t, 1, again.Attempt)
	assert.Equal(t, 2, enqCount(t, pool))

	// Once it is finished (kept with done_at), the hash is free again.
	_, err = pool.Exec(ctx, `UPDATE backie_tasks SET done_at = now() WHERE id = $1`, first.ID)
	require.NoError(t, err)
	third, err := q.CreateTask(ctx, &enqUniqTask{Key: "k", Extra: 4})
	require.NoError(t, err)
	assert.NotEqual(t, first.ID, third.ID)
	assert.JSONEq(t, `{"key":"k","extra":4}`, string(third.Payload))
	assert.Equal(t, backie.StateReady, third.State())
	assert.Equal(t, 3, enqCount(t, pool))

	// A failed one frees it too.
	_, err = pool.Exec(ctx, `UPDATE backie_tasks SET done_at = now(), error_info = '{"message":"x"}' WHERE id = $1`, third.ID)
	require.NoError(t, err)
	fourth, err := q.CreateTask(ctx, &enqUniqTask{Key: "k", Extra: 5})
	require.NoError(t, err)
	assert.NotContains(t, []backie.TaskID{first.ID, third.ID}, fourth.ID)
	assert.Equal(t, 4, enqCount(t, pool))

	// And so does a removed one.
	require.NoError(t, q.RemoveTask(ctx, fourth.ID))
	fifth, err := q.CreateTask(ctx, &enqUniqTask{Key: "k", Extra: 6})
	require.NoError(t, err)
	assert.NotContains(t, []backie.TaskID{first.ID, third.ID, fourth.ID}, fifth.ID)
	assert.Equal(t, 4, enqCount(t, pool))

	var unfinished int
	require.NoError(t, pool.QueryRow(ctx,
		`SELECT count(*) FROM backie_tasks WHERE uniq_hash = $1 AND done_at IS NULL`, string(mustHash(t, "k"))).Scan(&unfinished))
	assert.Equal(t, 1, unfinished)
}

func TestPgQueueUniqueTaskConcurrent(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()

	const n = 50
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		ids   [n]backie.TaskID
		errs  [n]error
	)
	for i := range n {
		wg.Go(func() {
			<-start
			rec, err := q.CreateTask(ctx, &enqUniqTask{Key: "race", Extra: i})
			errs[i] = err
			if err == nil {
				ids[i] = rec.ID
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i], "goroutine %d", i)
		require.Equal(t, ids[0], ids[i], "goroutine %d got another task", i)
	}
	assert.Equal(t, 1, enqCount(t, pool))
	var id backie.TaskID
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM backie_tasks`).Scan(&id))
	assert.Equal(t, id, ids[0])
}

// Concurrent batches of the same unique tasks in different orders must not
// deadlock each other and must still insert each hash once.
func TestPgQueueUniqueBatchesConcurrent(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()

	const goroutines, keys = 8, 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		recs  [goroutines][]*backie.TaskRecord
		errs  [goroutines]error
	)
	for g := range goroutines {
		tasks := make([]backie.Task, keys)
		for i, k := range rand.Perm(keys) {
			tasks[i] = &enqUniqTask{Key: fmt.Sprint("key-", k), Extra: g}
		}
		wg.Go(func() {
			<-start
			recs[g], errs[g] = q.CreateTasks(ctx, tasks)
		})
	}
	close(start)
	wg.Wait()

	byHash := make(map[backie.TaskHash]backie.TaskID)
	for g := range goroutines {
		require.NoError(t, errs[g], "goroutine %d", g)
		require.Len(t, recs[g], keys)
		for _, rec := range recs[g] {
			if id, ok := byHash[rec.UniqHash]; ok {
				require.Equal(t, id, rec.ID, "two records for hash %s", rec.UniqHash)
			}
			byHash[rec.UniqHash] = rec.ID
		}
	}
	assert.Len(t, byHash, keys)
	assert.Equal(t, keys, enqCount(t, pool))
}

// A batch takes the unique hashes of its tasks in one order, whatever the
// order of the batch: here the batch [hi, lo] waits for lo, held by another
// transaction, before it takes hi, so that transaction can take hi and
// commit. Inserting in input order would deadlock the two.
func TestPgQueueUniqueBatchLockOrder(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()
	lo, hi := "a", "b"
	if mustHash(t, lo) > mustHash(t, hi) {
		lo, hi = hi, lo
	}

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit
	loRec, err := q.CreateTaskTx(ctx, tx, &enqUniqTask{Key: lo})
	require.NoError(t, err)

	type result struct {
		recs []*backie.TaskRecord
		err  error
	}
	done := make(chan result, 1)
	go func() {
		recs, err := q.CreateTasks(ctx, []backie.Task{&enqUniqTask{Key: hi}, &enqUniqTask{Key: lo}})
		done <- result{recs, err}
	}()
	enqWaitBlocked(t, pool, tx.Conn().PgConn().PID())

	hiRec, err := q.CreateTaskTx(ctx, tx, &enqUniqTask{Key: hi})
	require.NoError(t, err, "the batch must not hold hi while it waits for lo")
	require.NoError(t, tx.Commit(ctx))

	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the batch did not return after the transaction committed")
	}
	require.NoError(t, res.err)
	assert.Equal(t, hiRec.ID, res.recs[0].ID)
	assert.Equal(t, loRec.ID, res.recs[1].ID)
	assert.Equal(t, 2, enqCount(t, pool))
}

func TestPgQueueCreateTasksUniqueDuplicates(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()

	existing, err := q.CreateTask(ctx, &enqUniqTask{Key: "a", Extra: 1})
	require.NoError(t, err)

	recs, err := q.CreateTasks(ctx, []backie.Task{
		&enqUniqTask{Key: "a", Extra: 2}, // existing row
		&enqUniqTask{Key: "b", Extra: 3}, // new
		&enqTask{N: 1},                   // not unique
		&enqUniqTask{Key: "b", Extra: 4}, // duplicate within the batch
		&enqUniqTask{Key: "a", Extra: 5}, // existing row again
		&enqTask{N: 1},                   // not unique: a second row
	})
	require.NoError(t, err)
	require.Len(t, recs, 6)
	enqRequireSameRecord(t, existing, recs[0])
	enqRequireSameRecord(t, existing, recs[4])
	assert.Equal(t, recs[1].ID, recs[3].ID)
	assert.JSONEq(t, `{"key":"b","extra":3}`, string(recs[3].Payload), "the first of the batch wins")
	assert.NotEqual(t, recs[2].ID, recs[5].ID)
	assert.Equal(t, 4, enqCount(t, pool), "a, b and two plain tasks")
	for _, rec := range recs {
		found, err := q.FindTask(ctx, rec.ID)
		require.NoError(t, err)
		enqRequireSameRecord(t, found, rec)
	}

	// The same within a transaction, against rows of the same transaction.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit
	one, err := q.CreateTaskTx(ctx, tx, &enqUniqTask{Key: "c"})
	require.NoError(t, err)
	recs, err = q.CreateTasksTx(ctx, tx, []backie.Task{&enqUniqTask{Key: "c"}, &enqUniqTask{Key: "a"}, &enqUniqTask{Key: "c"}})
	require.NoError(t, err)
	assert.Equal(t, one.ID, recs[0].ID)
	assert.Equal(t, existing.ID, recs[1].ID)
	assert.Equal(t, one.ID, recs[2].ID)
	require.NoError(t, tx.Commit(ctx))
	assert.Equal(t, 5, enqCount(t, pool))
}

// A unique task enqueued while another transaction holds an uncommitted
// task with the same hash waits for it: it gets that task if it commits, and
// inserts its own if it rolls back.
func TestPgQueueUniqueTaskWaitsForOtherTx(t *testing.T) {
	t.Parallel()
	for _, commit := range []bool{true, false} {
		t.Run(fmt.Sprintf("commit=%v", commit), func(t *testing.T) {
			t.Parallel()
			q, pool := enqQueue(t)
			ctx := t.Context()

			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit/rollback
			inTx, err := q.CreateTaskTx(ctx, tx, &enqUniqTask{Key: "k", Extra: 1})
			require.NoError(t, err)
			pid := tx.Conn().PgConn().PID()

			type result struct {
				rec *backie.TaskRecord
				err error
			}
			done := make(chan result, 1)
			go func() {
				rec, err := q.CreateTask(ctx, &enqUniqTask{Key: "k", Extra: 2})
				done <- result{rec, err}
			}()
			enqWaitBlocked(t, pool, pid)
			if commit {
				require.NoError(t, tx.Commit(ctx))
			} else {
				require.NoError(t, tx.Rollback(ctx))
			}
			var res result
			select {
			case res = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("CreateTask did not return after the other transaction ended")
			}
			require.NoError(t, res.err)
			if commit {
				assert.Equal(t, inTx.ID, res.rec.ID)
			} else {
				assert.NotEqual(t, inTx.ID, res.rec.ID)
				assert.JSONEq(t, `{"key":"k","extra":2}`, string(res.rec.Payload))
			}
			assert.Equal(t, 1, enqCount(t, pool))
		})
	}
}

func TestPgQueueCreateTaskTx(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()

	t.Run("commit", func(t *testing.T) {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit
		rec, err := q.CreateTaskTx(ctx, tx, &enqTask{N: 1})
		require.NoError(t, err)
		recs, err := q.CreateTasksTx(ctx, tx, []backie.Task{&enqTask{N: 2}, &enqTask{N: 3}})
		require.NoError(t, err)
		require.Len(t, recs, 2)

		assert.Equal(t, 3, enqCount(t, tx), "visible inside the transaction")
		assert.Equal(t, 0, enqCount(t, pool), "invisible to other connections before commit")
		_, err = q.FindTask(ctx, rec.ID)
		require.ErrorIs(t, err, backie.ErrNotFound)

		require.NoError(t, tx.Commit(ctx))
		assert.Equal(t, 3, enqCount(t, pool))
		for _, r := range append(recs, rec) {
			found, err := q.FindTask(ctx, r.ID)
			require.NoError(t, err)
			enqRequireSameRecord(t, r, found)
		}
	})

	t.Run("rollback", func(t *testing.T) {
		before := enqCount(t, pool)
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		rec, err := q.CreateTaskTx(ctx, tx, &enqTask{N: 4})
		require.NoError(t, err)
		recs, err := q.CreateTasksTx(ctx, tx, []backie.Task{&enqTask{N: 5}, &enqUniqTask{Key: "rb"}})
		require.NoError(t, err)
		assert.Equal(t, before+3, enqCount(t, tx))
		require.NoError(t, tx.Rollback(ctx))

		assert.Equal(t, before, enqCount(t, pool))
		for _, r := range append(recs, rec) {
			_, err := q.FindTask(ctx, r.ID)
			require.ErrorIs(t, err, backie.ErrNotFound)
		}
		// The rolled-back unique task does not hold its hash.
		again, err := q.CreateTask(ctx, &enqUniqTask{Key: "rb"})
		require.NoError(t, err)
		assert.NotEqual(t, recs[1].ID, again.ID)
	})

	t.Run("nil tx", func(t *testing.T) {
		before := enqCount(t, pool)
		_, err := q.CreateTaskTx(ctx, nil, &enqTask{})
		require.ErrorIs(t, err, backie.ErrInvalidConfig)
		_, err = q.CreateTasksTx(ctx, nil, []backie.Task{&enqTask{}})
		require.ErrorIs(t, err, backie.ErrInvalidConfig)
		require.ErrorIs(t, q.RemoveTaskTx(ctx, nil, uuid.Must(uuid.NewV7())), backie.ErrInvalidConfig)
		_, err = q.RemoveTasksByTypeTx(ctx, nil, backie.TaskTypeDefault)
		require.ErrorIs(t, err, backie.ErrInvalidConfig)
		_, err = q.RemoveAllTasksTx(ctx, nil)
		require.ErrorIs(t, err, backie.ErrInvalidConfig)
		assert.Equal(t, before, enqCount(t, pool))
	})
}

func TestPgQueueCreateTasksBatch(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()

	const n = 1000
	tasks := make([]backie.Task, n)
	for i := range tasks {
		tasks[i] = &enqTask{N: i}
	}
	recs, err := q.CreateTasks(ctx, tasks)
	require.NoError(t, err)
	require.Len(t, recs, n)

	seen := make(map[backie.TaskID]bool, n)
	for i, rec := range recs {
		var p enqTask
		require.NoError(t, json.Unmarshal(rec.Payload, &p))
		require.Equal(t, i, p.N, "record %d is not task %d", i, i)
		require.False(t, seen[rec.ID], "duplicate id %s", rec.ID)
		seen[rec.ID] = true
		require.Equal(t, backie.StateReady, rec.State())
		require.True(t, rec.ScheduledAt.Equal(recs[0].ScheduledAt), "one statement, one now()")
		if i > 0 {
			// Claims are FIFO among equal scheduled_at by id.
			require.Negative(t, bytes.Compare(recs[i-1].ID[:], rec.ID[:]), "ids of a batch increase in input order")
		}
	}
	assert.Equal(t, n, enqCount(t, pool))

	rows, err := pool.Query(ctx, `SELECT id, (payload->>'n')::int FROM backie_tasks`)
	require.NoError(t, err)
	stored := make(map[backie.TaskID]int, n)
	var (
		id  backie.TaskID
		num int
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &num}, func() error { stored[id] = num; return nil })
	require.NoError(t, err)
	require.Len(t, stored, n)
	for i, rec := range recs {
		require.Equal(t, i, stored[rec.ID], "row of record %d", i)
	}

	for _, empty := range [][]backie.Task{nil, {}} {
		recs, err := q.CreateTasks(ctx, empty)
		require.NoError(t, err)
		assert.NotNil(t, recs)
		assert.Empty(t, recs)
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		recs, err = q.CreateTasksTx(ctx, tx, empty)
		require.NoError(t, err)
		assert.Empty(t, recs)
		require.NoError(t, tx.Rollback(ctx))
	}
	assert.Equal(t, n, enqCount(t, pool))
}

func TestPgQueueCreateTasksInvalidInsertsNothing(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()
	_, err := q.CreateTask(ctx, &enqTask{N: -1})
	require.NoError(t, err)

	for _, tc := range []struct {
		name  string
		tasks []backie.Task
		want  error
	}{
		{"nil", []backie.Task{&enqTask{N: 1}, nil, &enqTask{N: 2}}, backie.ErrNilTask},
		{"typed nil", []backie.Task{&enqTask{N: 1}, (*enqTask)(nil)}, backie.ErrNilTask},
		{"unregistered", []backie.Task{&enqUniqTask{Key: "x"}, &enqUnregisteredTask{}}, backie.ErrTaskNotRegistered},
		{"unencodable", []backie.Task{&enqTask{N: 1}, &enqChanTask{C: make(chan int)}}, backie.ErrEncodePayload},
		{"long hash", []backie.Task{&enqTask{N: 1}, &enqHashTask{Hash: strings.Repeat("x", backie.MaxTaskHashLen+1)}}, backie.ErrInvalidUniqHash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := q.CreateTasks(ctx, tc.tasks)
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, recs)
			assert.Contains(t, err.Error(), fmt.Sprintf("task 1 of %d", len(tc.tasks)), "the error says which task")

			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			_, err = q.CreateTasksTx(ctx, tx, tc.tasks)
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, 1, enqCount(t, tx))
			require.NoError(t, tx.Commit(ctx), "a rejected batch does not abort the caller's transaction")

			assert.Equal(t, 1, enqCount(t, pool))
		})
	}
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM backie_tasks WHERE uniq_hash IS NOT NULL`).Scan(&n))
	assert.Zero(t, n)
}

func TestPgQueueCreateTaskLater(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()

	t.Run("RunAt future", func(t *testing.T) {
		at := time.Now().Add(time.Hour)
		rec, err := q.CreateTask(ctx, &enqTask{N: 1}, backie.RunAt(at))
		require.NoError(t, err)
		assert.WithinDuration(t, at, rec.ScheduledAt, time.Microsecond, "stored with microsecond precision")
		assert.True(t, rec.ScheduledAt.After(rec.CreatedAt))
		assert.Equal(t, backie.StateScheduled, rec.State())
		assert.Equal(t, backie.StateScheduled, enqSQLState(t, pool, rec.ID))
		found, err := q.FindTask(ctx, rec.ID)
		require.NoError(t, err)
		enqRequireSameRecord(t, rec, found)
		assert.Equal(t, backie.StateScheduled, found.State())
		assert.Equal(t, backie.StateReady, found.StateAt(at.Add(time.Second)), "Ready once due")
	})

	t.Run("RunAt past", func(t *testing.T) {
		at := time.Now().Add(-time.Hour)
		rec, err := q.CreateTask(ctx, &enqTask{N: 2}, backie.RunAt(at))
		require.NoError(t, err)
		assert.WithinDuration(t, at, rec.ScheduledAt, time.Microsecond)
		assert.Equal(t, backie.StateReady, rec.State())
		assert.Equal(t, backie.StateReady, enqSQLState(t, pool, rec.ID))
	})

	t.Run("RunAt other time zone", func(t *testing.T) {
		at := time.Now().Add(time.Hour).In(time.FixedZone("UTC+14", 14*3600))
		rec, err := q.CreateTask(ctx, &enqTask{N: 3}, backie.RunAt(at))
		require.NoError(t, err)
		assert.WithinDuration(t, at, rec.ScheduledAt, time.Microsecond)
		assert.Equal(t, backie.StateScheduled, rec.State())
	})

	t.Run("RunAfter", func(t *testing.T) {
		rec, err := q.CreateTask(ctx, &enqTask{N: 4}, backie.RunAfter(90*time.Minute))
		require.NoError(t, err)
		assert.True(t, rec.ScheduledAt.Equal(rec.CreatedAt.Add(90*time.Minute)),
			"scheduled_at %v = created_at %v + 90m, by the database's clock", rec.ScheduledAt, rec.CreatedAt)
		assert.Equal(t, backie.StateScheduled, rec.State())
		assert.Equal(t, backie.StateScheduled, enqSQLState(t, pool, rec.ID))
	})

	t.Run("RunAfter not positive", func(t *testing.T) {
		for _, d := range []time.Duration{0, -time.Hour} {
			rec, err := q.CreateTask(ctx, &enqTask{N: 5}, backie.RunAfter(d))
			require.NoError(t, err)
			assert.True(t, rec.ScheduledAt.Equal(rec.CreatedAt))
			assert.Equal(t, backie.StateReady, rec.State())
		}
	})

	t.Run("last option wins", func(t *testing.T) {
		rec, err := q.CreateTask(ctx, &enqTask{N: 6}, backie.RunAt(time.Now().Add(-time.Hour)), backie.RunAfter(time.Hour))
		require.NoError(t, err)
		assert.True(t, rec.ScheduledAt.Equal(rec.CreatedAt.Add(time.Hour)))
		at := time.Now().Add(2 * time.Hour)
		rec, err = q.CreateTask(ctx, &enqTask{N: 7}, backie.RunAfter(time.Hour), backie.RunAt(at), nil)
		require.NoError(t, err)
		assert.WithinDuration(t, at, rec.ScheduledAt, time.Microsecond)
	})

	t.Run("batch and tx", func(t *testing.T) {
		recs, err := q.CreateTasks(ctx, []backie.Task{&enqTask{N: 8}, &enqMailTask{}}, backie.RunAfter(time.Hour))
		require.NoError(t, err)
		for _, rec := range recs {
			assert.Equal(t, backie.StateScheduled, rec.State())
			assert.True(t, rec.ScheduledAt.Equal(rec.CreatedAt.Add(time.Hour)))
		}
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		at := time.Now().Add(time.Hour)
		rec, err := q.CreateTaskTx(ctx, tx, &enqTask{N: 9}, backie.RunAt(at))
		require.NoError(t, err)
		require.NoError(t, tx.Commit(ctx))
		assert.WithinDuration(t, at, rec.ScheduledAt, time.Microsecond)
		assert.Equal(t, backie.StateScheduled, enqSQLState(t, pool, rec.ID))
	})
}

func TestPgQueueRemove(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()

	mail, err := q.CreateTasks(ctx, []backie.Task{&enqMailTask{To: "1"}, &enqMailTask{To: "2"}, &enqMailTask{To: "3"}})
	require.NoError(t, err)
	common, err := q.CreateTasks(ctx, []backie.Task{&enqTask{N: 1}, &enqUniqTask{Key: "u"}})
	require.NoError(t, err)
	require.Equal(t, 5, enqCount(t, pool))

	t.Run("RemoveTask", func(t *testing.T) {
		require.NoError(t, q.RemoveTask(ctx, mail[0].ID))
		_, err := q.FindTask(ctx, mail[0].ID)
		require.ErrorIs(t, err, backie.ErrNotFound)
		require.ErrorIs(t, q.RemoveTask(ctx, mail[0].ID), backie.ErrNotFound)
		require.ErrorIs(t, q.RemoveTask(ctx, uuid.Must(uuid.NewV7())), backie.ErrNotFound)
		assert.Equal(t, 4, enqCount(t, pool))
	})

	t.Run("RemoveTask of a Running task", func(t *testing.T) {
		rec, err := q.CreateTask(ctx, &enqTask{N: 99})
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `UPDATE backie_tasks SET running_at = now(), attempt = 1 WHERE id = $1`, rec.ID)
		require.NoError(t, err)
		require.NoError(t, q.RemoveTask(ctx, rec.ID))
		assert.Equal(t, 4, enqCount(t, pool))
	})

	t.Run("Tx twins roll back", func(t *testing.T) {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		require.NoError(t, q.RemoveTaskTx(ctx, tx, mail[1].ID))
		require.ErrorIs(t, q.RemoveTaskTx(ctx, tx, mail[1].ID), backie.ErrNotFound)
		n, err := q.RemoveTasksByTypeTx(ctx, tx, "mail")
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
		n, err = q.RemoveAllTasksTx(ctx, tx)
		require.NoError(t, err)
		assert.Equal(t, int64(2), n)
		assert.Equal(t, 0, enqCount(t, tx))
		assert.Equal(t, 4, enqCount(t, pool), "not visible before commit")
		require.NoError(t, tx.Rollback(ctx))
		assert.Equal(t, 4, enqCount(t, pool))
		_, err = q.FindTask(ctx, mail[1].ID)
		require.NoError(t, err)
	})

	t.Run("RemoveTasksByType", func(t *testing.T) {
		n, err := q.RemoveTasksByType(ctx, "mail")
		require.NoError(t, err)
		assert.Equal(t, int64(2), n)
		n, err = q.RemoveTasksByType(ctx, "mail")
		require.NoError(t, err)
		assert.Zero(t, n)
		n, err = q.RemoveTasksByType(ctx, "no such type")
		require.NoError(t, err)
		assert.Zero(t, n)
		assert.Equal(t, 2, enqCount(t, pool))
		for _, rec := range common {
			_, err := q.FindTask(ctx, rec.ID)
			require.NoError(t, err, "other types stay")
		}
	})

	t.Run("Tx twins commit", func(t *testing.T) {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		n, err := q.RemoveTasksByTypeTx(ctx, tx, backie.TaskTypeDefault)
		require.NoError(t, err)
		assert.Equal(t, int64(2), n)
		require.NoError(t, tx.Commit(ctx))
		assert.Equal(t, 0, enqCount(t, pool))
	})

	t.Run("RemoveAllTasks", func(t *testing.T) {
		_, err := q.CreateTasks(ctx, []backie.Task{&enqTask{N: 1}, &enqMailTask{}, &enqTask{N: 2}}, backie.RunAfter(time.Hour))
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `UPDATE backie_tasks SET done_at = now() WHERE task_type = 'mail'`)
		require.NoError(t, err)
		n, err := q.RemoveAllTasks(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(3), n, "every state")
		n, err = q.RemoveAllTasks(ctx)
		require.NoError(t, err)
		assert.Zero(t, n)
		assert.Equal(t, 0, enqCount(t, pool))
	})
}

// The values below are compile-time checks that PgQueue keeps its Tx twins.
var (
	_ func(context.Context, pgx.Tx, backie.Task, ...backie.CreateOption) (*backie.TaskRecord, error)     = (*backie.PgQueue)(nil).CreateTaskTx
	_ func(context.Context, pgx.Tx, []backie.Task, ...backie.CreateOption) ([]*backie.TaskRecord, error) = (*backie.PgQueue)(nil).CreateTasksTx
	_ backie.Queue                                                                                       = (*backie.PgQueue)(nil)
)

// Two task types whose payloads are equal JSON share a HashOf; unique tasks
// are unique among the tasks of their name, so neither blocks the other.
type (
	enqRebuildIndex struct {
		backie.TaskDefaults
		Tenant string `json:"tenant"`
	}
	enqPurgeCache struct {
		backie.TaskDefaults
		Tenant string `json:"tenant"`
	}
)

func (*enqRebuildIndex) Run(context.Context, backie.Queue) error { return nil }
func (t *enqRebuildIndex) Uniq() (backie.TaskHash, error)        { return backie.HashOf(t) }
func (*enqPurgeCache) Run(context.Context, backie.Queue) error   { return nil }
func (t *enqPurgeCache) Uniq() (backie.TaskHash, error)          { return backie.HashOf(t) }

func TestPgQueueUniqueIsPerTaskName(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	reg := backie.NewRegistry()
	require.NoError(t, backie.Register[*enqRebuildIndex](reg, "rebuild_index"))
	require.NoError(t, backie.Register[*enqPurgeCache](reg, "purge_cache"))
	q := backie.NewPgQueue(pool, reg)
	ctx := t.Context()

	rebuild, err := q.CreateTask(ctx, &enqRebuildIndex{Tenant: "acme"})
	require.NoError(t, err)
	purge, err := q.CreateTask(ctx, &enqPurgeCache{Tenant: "acme"})
	require.NoError(t, err)
	require.Equal(t, rebuild.UniqHash, purge.UniqHash, "the same hash")
	require.NotEqual(t, rebuild.ID, purge.ID, "the second task was not stored")
	require.Equal(t, "purge_cache", purge.Name)
	require.Equal(t, 2, enqCount(t, pool))

	// Within a name, the hash still makes a task unique, in batches too.
	again, err := q.CreateTask(ctx, &enqPurgeCache{Tenant: "acme"})
	require.NoError(t, err)
	require.Equal(t, purge.ID, again.ID)
	recs, err := q.CreateTasks(ctx, []backie.Task{&enqRebuildIndex{Tenant: "acme"}, &enqPurgeCache{Tenant: "acme"},
		&enqRebuildIndex{Tenant: "other"}})
	require.NoError(t, err)
	require.Equal(t, rebuild.ID, recs[0].ID)
	require.Equal(t, purge.ID, recs[1].ID)
	require.Equal(t, 3, enqCount(t, pool))
}

// NewRecord validates as CreateTask does, with the same errors, and builds
// the record without storing it.
func TestRegistryNewRecord(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	reg := q.Registry()
	at := time.Now().Add(time.Hour)
	rec, err := reg.NewRecord(time.Now(), &enqMailTask{To: "a"}, backie.RunAt(at), backie.WithPriority(backie.PriorityLow))
	require.NoError(t, err)
	require.Equal(t, "enq_mail", rec.Name)
	require.Equal(t, backie.TaskType("mail"), rec.Type)
	require.Equal(t, backie.PriorityLow, rec.Priority)
	require.Equal(t, 3, rec.MaxRetries)
	require.Equal(t, 1500*time.Millisecond, rec.Timeout)
	require.True(t, at.Equal(rec.ScheduledAt))
	require.JSONEq(t, `{"to":"a"}`, string(rec.Payload))
	require.NotEqual(t, backie.TaskID{}, rec.ID)
	clock := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	rec, err = reg.NewRecord(clock, &enqTask{N: 1}, backie.RunAfter(time.Minute))
	require.NoError(t, err)
	require.Equal(t, clock.Add(time.Minute), rec.ScheduledAt)
	require.Equal(t, clock, rec.CreatedAt)
	// RunAfter counts whole milliseconds, as PgQueue stores it.
	rec, err = reg.NewRecord(clock, &enqTask{N: 1}, backie.RunAfter(1500*time.Microsecond))
	require.NoError(t, err)
	require.Equal(t, clock.Add(time.Millisecond), rec.ScheduledAt)
	for name, task := range map[string]backie.Task{
		"unregistered": &enqUnregisteredTask{}, "nil": nil, "unencodable": &enqChanTask{C: make(chan int)},
		"bad hash": &enqHashTask{Hash: strings.Repeat("h", 200)}, "Uniq fails": &enqUnhashableTask{C: make(chan int)},
		"bad type": &enqTypedTask{Type: "a\x00"}, "NUL in payload": &enqTask{Note: "a\x00b"},
	} {
		_, want := q.CreateTask(t.Context(), task)
		_, got := reg.NewRecord(time.Now(), task)
		require.Error(t, want, name)
		for _, sentinel := range []error{backie.ErrTaskNotRegistered, backie.ErrNilTask, backie.ErrEncodePayload,
			backie.ErrInvalidUniqHash, backie.ErrInvalidTaskType} {
			require.Equal(t, errors.Is(want, sentinel), errors.Is(got, sentinel), "%s: %v vs %v", name, want, got)
		}
	}
	require.Zero(t, enqCount(t, pool), "nothing stored")
	stored, err := q.CreateTask(t.Context(), &enqTask{N: 2}, backie.RunAfter(1999*time.Microsecond))
	require.NoError(t, err)
	require.Equal(t, time.Millisecond, stored.ScheduledAt.Sub(stored.CreatedAt))
	name, err := reg.NameOf(&enqMailTask{})
	require.NoError(t, err)
	require.Equal(t, "enq_mail", name)
	_, err = reg.NameOf(&enqUnregisteredTask{})
	require.ErrorIs(t, err, backie.ErrTaskNotRegistered)
	_, err = (*backie.Registry)(nil).NameOf(&enqMailTask{})
	require.ErrorIs(t, err, backie.ErrInvalidConfig)
	// An escaped backslash before u0000 is not a NUL.
	_, err = q.CreateTask(t.Context(), &enqTask{Note: `\u0000`})
	require.NoError(t, err)
}
