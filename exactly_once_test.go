package backie_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// TestExactlyOnceAcrossPools runs 5,000 tasks on four worker pools of 25
// workers, each with its own PgQueue and pgxpool on the same table, while
// the tasks are being enqueued: every task runs exactly once, and the table
// ends empty.
func TestExactlyOnceAcrossPools(t *testing.T) {
	t.Parallel()
	const (
		total   = 5000
		pools   = 4
		workers = 25
	)
	schema := dbtest.Schema(t)
	setup := dbtest.PoolFor(t, schema, 2)
	require.NoError(t, backie.Migrate(context.Background(), setup, backie.MigrateConfig{}))

	counts := make([]atomic.Int32, total)
	var perPool [pools]atomic.Int64
	var bad atomic.Int64 // tasks that saw a wrong record or queue
	var done atomic.Int64
	queues := make([]*backie.PgQueue, pools)
	env := wpNewEnv(t, setup, func(ctx context.Context, q backie.Queue, task *wpTask) error {
		rec, ok := backie.RecordFromContext(ctx)
		if !ok || rec.Attempt != 1 || rec.Retries != 0 {
			bad.Add(1)
		}
		// Run gets the queue of the pool that runs it.
		i := slices.IndexFunc(queues, func(pq *backie.PgQueue) bool { return backie.Queue(pq) == q })
		if i < 0 {
			bad.Add(1)
		} else {
			perPool[i].Add(1)
		}
		counts[task.N].Add(1)
		done.Add(1)
		return nil
	})
	// Each pool has its own pgxpool, registry and PgQueue.
	for i := range queues {
		reg := backie.NewRegistry()
		require.NoError(t, wpRegister(reg, env.hook))
		queues[i] = backie.NewPgQueue(dbtest.PoolFor(t, schema, 4), reg)
	}
	for _, q := range queues {
		wpStart(t, q, backie.Config{Workers: workers, PollInterval: 100 * time.Millisecond})
	}

	// Enqueue in batches while the pools run.
	const batch = 500
	for start := 0; start < total; start += batch {
		tasks := make([]backie.Task, 0, batch)
		for n := start; n < start+batch; n++ {
			tasks = append(tasks, env.task(n))
		}
		recs, err := queues[start/batch%pools].CreateTasks(context.Background(), tasks)
		require.NoError(t, err)
		require.Len(t, recs, batch)
	}

	require.Eventually(t, func() bool {
		return done.Load() >= total && wpCount(t, setup, `SELECT count(*) FROM backie_tasks`) == 0
	}, 45*time.Second, 20*time.Millisecond, "ran %d of %d tasks", done.Load(), total)
	var twice, never []int
	for n := range counts {
		switch c := counts[n].Load(); {
		case c == 0:
			never = append(never, n)
		case c > 1:
			twice = append(twice, n)
		}
	}
	require.Zero(t, len(never), "%d tasks never ran; the first: %v", len(never), never[:min(len(never), 20)])
	require.Zero(t, len(twice), "%d tasks ran more than once; the first: %v", len(twice), twice[:min(len(twice), 20)])
	require.Equal(t, int64(total), done.Load())
	require.Zero(t, bad.Load(), "tasks saw a wrong record")
	require.Zero(t, wpCount(t, setup, `SELECT count(*) FROM backie_tasks`))
	t.Logf("tasks run per pool: %d %d %d %d", perPool[0].Load(), perPool[1].Load(), perPool[2].Load(), perPool[3].Load())
}
