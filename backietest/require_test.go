package backietest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backietest"
)

// TestRequireEnqueued on a PgQueue: what matches passes and is returned
// decoded; what does not fails the test with what was enqueued instead.
func TestRequireEnqueued(t *testing.T) {
	t.Parallel()
	q := newPgQueue(t)
	ctx := t.Context()
	ann, err := q.CreateTask(ctx, &Email{To: "ann@example.com", Subject: "Hi"}, backie.WithPriority(backie.PriorityUrgent))
	require.NoError(t, err)
	bob, err := q.CreateTask(ctx, &Email{To: "bob@example.com"}, backie.RunAfter(time.Hour))
	require.NoError(t, err)
	_, err = q.CreateTask(ctx, &Welcome{To: "ann@example.com"})
	require.NoError(t, err)

	t.Run("passes", func(t *testing.T) {
		found := backietest.RequireEnqueued[*Email](t, q)
		require.Len(t, found, 2)
		require.Equal(t, &Email{To: "ann@example.com", Subject: "Hi"}, found[0].Task, "oldest first, decoded")
		require.Equal(t, ann.ID, found[0].Record.ID)

		found = backietest.RequireEnqueued[*Email](t, q, backietest.Want{
			Payload:  map[string]any{"to": "ann@example.com"},
			State:    backie.StateReady,
			Priority: backie.PriorityUrgent,
		})
		require.Len(t, found, 1)
		require.Equal(t, ann.ID, found[0].Record.ID)

		found = backietest.RequireEnqueued[*Email](t, q, backietest.Want{
			State:           backie.StateScheduled,
			ScheduledAt:     time.Now().Add(time.Hour),
			ScheduledWithin: 10 * time.Second,
		})
		require.Equal(t, bob.ID, found[0].Record.ID)
		backietest.RequireEnqueued[*Email](t, q, backietest.Want{ScheduledAt: bob.ScheduledAt})
		backietest.RequireEnqueued[*Email](t, q, backietest.Want{Count: 2})
		backietest.RequireEnqueued[*Email](t, q, backietest.Want{Payload: &Email{To: "bob@example.com"}})
		backietest.RequireNotEnqueued[*Email](t, q, backietest.Want{Payload: map[string]any{"to": "carl@example.com"}})
		backietest.RequireNotEnqueued[*Job](t, q)
	})

	t.Run("no match", func(t *testing.T) {
		requireFails(t, func(tb testing.TB) {
			backietest.RequireEnqueued[*Email](tb, q, backietest.Want{Payload: map[string]any{"to": "carl@example.com"}})
		},
			`backietest: RequireEnqueued: no task "email" (*backietest_test.Email) with payload containing {"to":"carl@example.com"}`,
			"enqueued instead (3 tasks, oldest first):",
			"NAME     TYPE    STATE      PRIORITY  SCHEDULED_AT",
			`email    common  ready      1         `+formatTime(ann.ScheduledAt)+`  {"to":"ann@example.com","subject":"Hi"}`,
			`email    common  scheduled  2`,
			`welcome  common  ready      2`)
	})
	t.Run("wrong count", func(t *testing.T) {
		requireFails(t, func(tb testing.TB) { backietest.RequireEnqueued[*Email](tb, q, backietest.Want{Count: 3}) },
			`want 3 tasks "email" (*backietest_test.Email), found 2`,
			"enqueued (* matches) (3 tasks, oldest first):",
			`* email    common  ready`,
			`  welcome  common  ready`)
	})
	t.Run("each field narrows", func(t *testing.T) {
		for _, w := range []backietest.Want{
			{State: backie.StateDone},
			{Priority: backie.PriorityLowest},
			{ScheduledAt: time.Now().Add(2 * time.Hour), ScheduledWithin: time.Minute},
			{Payload: map[string]any{"to": "ann@example.com", "subject": "Bye"}},
			{Payload: &Email{To: "ann@example.com", Subject: "Bye"}}, // a struct names every field it encodes
		} {
			requireFails(t, func(tb testing.TB) { backietest.RequireEnqueued[*Email](tb, q, w) }, "backietest: RequireEnqueued: no task")
		}
	})
	t.Run("found where it should not be", func(t *testing.T) {
		requireFails(t, func(tb testing.TB) {
			backietest.RequireNotEnqueued[*Email](tb, q, backietest.Want{State: backie.StateReady})
		},
			`backietest: RequireNotEnqueued: 1 task "email" (*backietest_test.Email) with state ready enqueued:`,
			`ann@example.com`)
	})
	t.Run("misuse", func(t *testing.T) {
		requireFails(t, func(tb testing.TB) { backietest.RequireEnqueued[*Unregistered](tb, q) },
			"backietest: RequireEnqueued: the name of *backietest_test.Unregistered: backie: name of task: task type not registered")
		requireFails(t, func(tb testing.TB) { backietest.RequireEnqueued[*Email](tb, new(backietest.RecordingQueue)) },
			"backietest: RequireEnqueued: the name of *backietest_test.Email: invalid configuration: the queue has no registry")
		requireFails(t, func(tb testing.TB) {
			backietest.RequireEnqueued[*Email](tb, q, backietest.Want{Payload: func() {}})
		}, "backietest: RequireEnqueued: Want.Payload: json: unsupported type")
		requireFails(t, func(tb testing.TB) { backietest.RequireEnqueued[*Email](tb, otherQueue{q}) },
			"backietest: RequireEnqueued reads a *backie.PgQueue or a *backietest.RecordingQueue, not backietest_test.otherQueue")
		requireFails(t, func(tb testing.TB) { backietest.RequireEnqueuedTx[*Email](tb, q, nil) },
			"backietest: RequireEnqueuedTx: nil queue or transaction")
	})
}

// otherQueue is a Queue of the user's that the assertions cannot read.
type otherQueue struct{ *backie.PgQueue }

// formatTime writes t as the failure messages do.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// TestRequireEnqueuedNothing: the message says when nothing was enqueued,
// and lists only the newest of many tasks.
func TestRequireEnqueuedNothing(t *testing.T) {
	t.Parallel()
	q := newPgQueue(t)
	requireFails(t, func(tb testing.TB) { backietest.RequireEnqueued[*Email](tb, q) },
		`backietest: RequireEnqueued: no task "email" (*backietest_test.Email)`+"\nnothing was enqueued")
	requirePasses(t, func(tb testing.TB) { backietest.RequireNotEnqueued[*Email](tb, q) })

	tasks := make([]backie.Task, 25)
	for i := range tasks {
		tasks[i] = &Welcome{To: fmt.Sprintf("user%02d@example.com", i)}
	}
	_, err := q.CreateTasks(t.Context(), tasks)
	require.NoError(t, err)
	c := requireFails(t, func(tb testing.TB) { backietest.RequireEnqueued[*Email](tb, q) },
		"enqueued instead (the 20 newest tasks, oldest first):", "user24@example.com", "user05@example.com")
	require.NotContains(t, c.message(), "user04@example.com")
}

// TestRequireEnqueuedTx: in a transaction, its own tasks count before the
// commit; outside, only once it commits.
func TestRequireEnqueuedTx(t *testing.T) {
	t.Parallel()
	q := newPgQueue(t)
	ctx := t.Context()
	tx, err := q.Pool().Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(context.WithoutCancel(ctx))
	_, err = q.CreateTaskTx(ctx, tx, &Email{To: "ann@example.com"})
	require.NoError(t, err)

	found := backietest.RequireEnqueuedTx[*Email](t, q, tx, backietest.Want{Payload: map[string]any{"to": "ann@example.com"}})
	require.Len(t, found, 1)
	requireFails(t, func(tb testing.TB) {
		backietest.RequireNotEnqueuedTx[*Email](tb, q, tx)
	}, `backietest: RequireNotEnqueuedTx: 1 task "email"`, "ann@example.com")
	requireFails(t, func(tb testing.TB) {
		backietest.RequireEnqueuedTx[*Email](tb, q, tx, backietest.Want{Payload: map[string]any{"to": "bob@example.com"}})
	}, `backietest: RequireEnqueuedTx: no task "email"`, "enqueued instead (1 task, oldest first):", "ann@example.com")
	requireFails(t, func(tb testing.TB) { backietest.RequireEnqueued[*Email](tb, q) },
		"nothing was enqueued", // the pool does not see the transaction's task
	)
	backietest.RequireNotEnqueued[*Email](t, q)

	require.NoError(t, tx.Commit(ctx))
	backietest.RequireEnqueued[*Email](t, q, backietest.Want{Count: 1})
}

// TestRequireEnqueuedRecording: the same assertions on a RecordingQueue,
// whose tasks are due when their options say, and in the state its clock
// says.
func TestRequireEnqueuedRecording(t *testing.T) {
	t.Parallel()
	clock := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	q := backietest.NewRecordingQueue(newRegistry(t, nil), backietest.RecordingQueueOptions{
		Now: func() time.Time { return clock },
	})
	ctx := t.Context()
	for _, e := range []struct {
		to   string
		opts []backie.CreateOption
	}{
		{"ann@example.com", nil},
		{"bob@example.com", []backie.CreateOption{backie.WithPriority(backie.PriorityLow)}},
		{"carl@example.com", []backie.CreateOption{backie.RunAfter(time.Hour)}},
		{"dan@example.com", []backie.CreateOption{backie.RunAt(clock.Add(2 * time.Hour))}},
	} {
		_, err := q.CreateTask(ctx, &Email{To: e.to}, e.opts...)
		require.NoError(t, err)
	}

	found := backietest.RequireEnqueued[*Email](t, q, backietest.Want{Count: 4})
	require.Equal(t, "bob@example.com", found[1].Task.To)
	backietest.RequireEnqueued[*Email](t, q, backietest.Want{Priority: backie.PriorityLow, Count: 1})
	backietest.RequireEnqueued[*Email](t, q, backietest.Want{Payload: map[string]any{"to": "ann@example.com"},
		State: backie.StateReady})
	backietest.RequireEnqueued[*Email](t, q, backietest.Want{State: backie.StateReady, Count: 2})
	found = backietest.RequireEnqueued[*Email](t, q, backietest.Want{State: backie.StateScheduled, Count: 2})
	require.Equal(t, "carl@example.com", found[0].Task.To)
	found = backietest.RequireEnqueued[*Email](t, q, backietest.Want{ScheduledAt: clock.Add(time.Hour), Count: 1})
	require.Equal(t, "carl@example.com", found[0].Task.To, "RunAfter's delay after the clock, to the microsecond")
	found = backietest.RequireEnqueued[*Email](t, q, backietest.Want{ScheduledAt: clock.Add(2 * time.Hour), Count: 1})
	require.Equal(t, "dan@example.com", found[0].Task.To, "RunAt's time")
	backietest.RequireNotEnqueued[*Email](t, q, backietest.Want{ScheduledAt: clock.Add(time.Hour + time.Microsecond)})
	backietest.RequireNotEnqueued[*Welcome](t, q)

	requireFails(t, func(tb testing.TB) {
		backietest.RequireEnqueued[*Email](tb, q, backietest.Want{Payload: map[string]any{"to": "eve@example.com"}})
	}, `no task "email"`, "enqueued instead (4 tasks, oldest first):",
		`email  common  ready      3         `+formatTime(clock)+`  {"to":"bob@example.com"}`,
		`email  common  scheduled  2         `+formatTime(clock.Add(2*time.Hour))+`  {"to":"dan@example.com"}`)
	requireFails(t, func(tb testing.TB) {
		backietest.RequireNotEnqueued[*Email](tb, q, backietest.Want{State: backie.StateScheduled})
	}, `2 tasks "email" (*backietest_test.Email) with state scheduled enqueued:`, "carl@example.com", "dan@example.com")

	// The clock moves: carl's task is due.
	clock = clock.Add(time.Hour)
	found = backietest.RequireEnqueued[*Email](t, q, backietest.Want{State: backie.StateScheduled, Count: 1})
	require.Equal(t, "dan@example.com", found[0].Task.To)
	backietest.RequireEnqueued[*Email](t, q, backietest.Want{State: backie.StateReady, Count: 3})
}
