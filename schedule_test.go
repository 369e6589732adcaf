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

// A pool knows when the next task it serves is due and wakes then, rather
// than at its next poll. The pools below poll once a minute, longer than
// the tests wait: a task that starts at all started because the pool woke
// for it. (How close to scheduled_at they start is measured by the
// benchmark's scheduled workload, not asserted here.)
func TestScheduledTasksWakeThePool(t *testing.T) {
	t.Parallel()
	const poll = time.Minute

	type start struct {
		n  int
		at time.Time
	}
	setup := func(t *testing.T) (*wpEnv, chan start) {
		db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
		started := make(chan start, 8)
		env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, task *wpTask) error {
			started <- start{task.N, time.Now()}
			if rec, _ := backie.RecordFromContext(ctx); task.Retries > 0 && rec.Retries == 0 {
				return errors.New("fails once")
			}
			return nil
		})
		return env, started
	}

	t.Run("notified of a task scheduled for later", func(t *testing.T) {
		t.Parallel()
		env, started := setup(t)
		wpStart(t, env.q, backie.Config{Workers: 2, PollInterval: poll})
		env.create(t, env.task(0)) // the pool is up and idle once this ran
		wpRecv(t, started, "a first task")
		rec, err := env.q.CreateTask(context.Background(), env.task(1), backie.RunAfter(300*time.Millisecond))
		require.NoError(t, err)
		s := wpRecv(t, started, "the scheduled task")
		require.Equal(t, 1, s.n)
		require.False(t, s.at.Before(rec.ScheduledAt.Add(-5*time.Millisecond)), "started before it was due")
	})

	// Tasks that no notification told of (enqueued before the pool
	// listened, or later tasks of an insert, which tells only its earliest
	// due time): each one the pool wakes for leads it to the next.
	t.Run("several found by the last poll, notifications on", func(t *testing.T) {
		t.Parallel()
		env, started := setup(t)
		var due []time.Time
		for i, d := range []time.Duration{300 * time.Millisecond, 600 * time.Millisecond, 900 * time.Millisecond} {
			rec, err := env.q.CreateTask(context.Background(), env.task(i+1), backie.RunAfter(d))
			require.NoError(t, err)
			due = append(due, rec.ScheduledAt)
		}
		wpStart(t, env.q, backie.Config{Workers: 2, PollInterval: poll})
		for i := range due {
			s := wpRecv(t, started, "a scheduled task")
			require.Equal(t, i+1, s.n, "in the order they were due")
			require.False(t, s.at.Before(due[i].Add(-5*time.Millisecond)), "started before it was due")
		}
	})

	// Concurrent CreateTask calls are merged into one insert: it tells the
	// pools of its earliest task and, when that one is due now, of its
	// earliest task that is not.
	t.Run("an insert of tasks due now and later, notifications on", func(t *testing.T) {
		t.Parallel()
		env, started := setup(t)
		wpStart(t, env.q, backie.Config{Workers: 2, PollInterval: poll})
		env.create(t, env.task(0)) // the pool is up and idle once this ran
		wpRecv(t, started, "a first task")
		recs, err := backie.InsertWithDelaysForTest(context.Background(), env.q,
			[]backie.Task{env.task(1), env.task(2)}, []time.Duration{0, 300 * time.Millisecond})
		require.NoError(t, err)
		require.Equal(t, 1, wpRecv(t, started, "the task due now").n)
		s := wpRecv(t, started, "the task due later")
		require.Equal(t, 2, s.n)
		require.False(t, s.at.Before(recs[1].ScheduledAt.Add(-5*time.Millisecond)), "started before it was due")
	})

	t.Run("found by the last poll, notifications off", func(t *testing.T) {
		t.Parallel()
		env, started := setup(t)
		// In the table before the pool starts: its first claim finds
		// nothing due, and its look ahead finds this task.
		rec, err := env.q.CreateTask(context.Background(), env.task(1), backie.RunAfter(500*time.Millisecond))
		require.NoError(t, err)
		wpStart(t, env.q, backie.Config{Workers: 2, PollInterval: poll, DisableNotifications: true})
		s := wpRecv(t, started, "the scheduled task")
		require.False(t, s.at.Before(rec.ScheduledAt.Add(-5*time.Millisecond)), "started before it was due")
	})

	t.Run("retry after its backoff, notifications off", func(t *testing.T) {
		t.Parallel()
		env, started := setup(t)
		task := env.task(1)
		task.Retries, task.BackoffMS = 1, 300
		env.create(t, task)
		wpStart(t, env.q, backie.Config{Workers: 2, PollInterval: poll, DisableNotifications: true})
		first := wpRecv(t, started, "the first attempt")
		retry := wpRecv(t, started, "the retry")
		require.GreaterOrEqual(t, retry.at.Sub(first.at), 300*time.Millisecond, "retried before its backoff")
	})
}
