package backie_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
)

// Concurrent CreateTask calls are merged into shared inserts; each caller
// must still get exactly its own outcome: its record, its schedule, its
// error, and a unique task's one row.
func TestInserterMergedCallsKeepTheirOwnOutcome(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()

	const rounds, callers = 5, 48
	type outcome struct {
		rec *backie.TaskRecord
		err error
	}
	for round := range rounds {
		out := make([]outcome, callers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range callers {
			wg.Go(func() {
				<-start
				var (
					task backie.Task
					opts []backie.CreateOption
				)
				switch i % 6 {
				case 0: // a payload Postgres refuses: fails alone
					task = &enqTask{N: i, Note: "nul\x00"}
				case 1: // the same unique task from many callers
					task = &enqUniqTask{Key: fmt.Sprintf("round-%d", round), Extra: i}
				case 2:
					task, opts = &enqTask{N: i}, []backie.CreateOption{backie.RunAfter(time.Hour)}
				default:
					task = &enqTask{N: i}
				}
				rec, err := q.CreateTask(ctx, task, opts...)
				out[i] = outcome{rec, err}
			})
		}
		close(start)
		wg.Wait()

		var uniqID backie.TaskID
		for i, o := range out {
			switch i % 6 {
			case 0:
				require.ErrorIs(t, o.err, backie.ErrEncodePayload, "caller %d", i)
				continue
			case 1:
				require.NoError(t, o.err, "caller %d", i)
				if uniqID == (backie.TaskID{}) {
					uniqID = o.rec.ID
				}
				assert.Equal(t, uniqID, o.rec.ID, "every caller of the unique task gets the one row")
				continue
			}
			require.NoError(t, o.err, "caller %d", i)
			stored, err := q.FindTask(ctx, o.rec.ID)
			require.NoError(t, err)
			assert.JSONEq(t, fmt.Sprintf(`{"n":%d}`, i), string(stored.Payload), "caller %d got its own row", i)
			assert.True(t, o.rec.ScheduledAt.Equal(stored.ScheduledAt))
			want := backie.StateReady
			if i%6 == 2 {
				want = backie.StateScheduled
			}
			assert.Equal(t, want, stored.State(), "caller %d", i)
		}
	}
	// Per round: 4 plain tasks of every 6 callers, plus one unique task.
	assert.Equal(t, rounds*(callers/6*4+1), enqCount(t, pool))
}

// A call that is cancelled while it waits behind an insert in flight is
// withdrawn at once and writes nothing; the calls queued with it still
// land.
func TestInserterCancelledWhileQueued(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()

	locker, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer locker.Rollback(context.Background()) //nolint:errcheck // rolled back below
	_, err = locker.Exec(ctx, `LOCK TABLE backie_tasks IN SHARE MODE`)
	require.NoError(t, err)

	// The leader's insert blocks on the lock.
	leader := make(chan error, 1)
	go func() {
		_, err := q.CreateTask(ctx, &enqTask{N: 1})
		leader <- err
	}()
	enqWaitBlocked(t, pool, locker.Conn().PgConn().PID())

	// A second call queues behind it and stays.
	kept := make(chan error, 1)
	go func() {
		_, err := q.CreateTask(ctx, &enqTask{N: 2})
		kept <- err
	}()

	// A third is cancelled: it must return while the lock is still held.
	callCtx, cancel := context.WithCancel(ctx)
	cancelled := make(chan error, 1)
	go func() {
		_, err := q.CreateTask(callCtx, &enqTask{N: 3})
		cancelled <- err
	}()
	cancel()
	select {
	case err := <-cancelled:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled call waited for the insert in flight")
	}

	require.NoError(t, locker.Rollback(ctx))
	for _, ch := range []chan error{leader, kept} {
		select {
		case err := <-ch:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("a queued call never returned")
		}
	}
	var ns []int
	require.NoError(t, pool.QueryRow(ctx, `SELECT array_agg((payload->>'n')::int ORDER BY 1) FROM backie_tasks`).Scan(&ns))
	assert.Equal(t, []int{1, 2}, ns, "the cancelled call wrote nothing")
}
