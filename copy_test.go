package backie_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// Large batches without unique tasks are stored by COPY: what is stored is
// what CreateTasks returned, in a transaction or not, and pools are
// notified as for any insert.
func TestCreateTasksByCopy(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 6})
	ran := make(chan int, 512)
	env := wpNewEnv(t, db, func(_ context.Context, _ backie.Queue, task *wpTask) error {
		ran <- task.N
		return nil
	})
	ctx := context.Background()
	batch := func(from, n int, typ string) []backie.Task {
		out := make([]backie.Task, n)
		for i := range out {
			task := env.task(from + i)
			task.Type = typ
			out[i] = task
		}
		return out
	}
	at := time.Now().Add(time.Hour)
	recs, err := env.q.CreateTasks(ctx, append(batch(0, 100, "a"), batch(100, 50, "b")...), backie.RunAt(at),
		backie.WithPriority(backie.PriorityLow))
	require.NoError(t, err)
	require.Len(t, recs, 150)
	for _, rec := range recs {
		stored := env.find(t, rec.ID)
		enqRequireSameRecord(t, rec, stored)
		require.Equal(t, backie.PriorityLow, stored.Priority)
		require.Equal(t, backie.StateScheduled, stored.State())
	}

	// In a transaction: gone with its rollback, there with its commit.
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	_, err = env.q.CreateTasksTx(ctx, tx, batch(200, 120, "a"))
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	require.Equal(t, int64(150), env.count(t, `SELECT count(*) FROM backie_tasks`))

	// A pool that polls once a minute is notified of a copied batch, at
	// the commit of its transaction.
	wpStart(t, env.q, backie.Config{Workers: 4, PollInterval: time.Minute, TaskTypes: []backie.TaskType{"c"}})
	tx, err = db.Begin(ctx)
	require.NoError(t, err)
	_, err = env.q.CreateTasksTx(ctx, tx, batch(1000, 120, "c"))
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	seen := map[int]bool{}
	for range 120 {
		seen[wpRecv(t, ran, "a copied task")] = true
	}
	require.Len(t, seen, 120)

	// Unique tasks, and RunAfter, take the INSERT: they still work in
	// large batches.
	uniq := make([]backie.Task, 120)
	for i := range uniq {
		uniq[i] = &wpUniqueTask{wpTask: *env.task(2000 + i%60)}
	}
	require.NoError(t, backie.RegisterFunc(env.reg, "wp_unique", func() *wpUniqueTask { return &wpUniqueTask{} }))
	urecs, err := env.q.CreateTasks(ctx, uniq, backie.RunAfter(time.Hour))
	require.NoError(t, err)
	ids := map[backie.TaskID]bool{}
	for _, r := range urecs {
		ids[r.ID] = true
	}
	require.Len(t, ids, 60, "duplicates share a task")
}
