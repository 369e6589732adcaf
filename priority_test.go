package backie_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// wpPriorityTask is a wpTask whose Priority is its payload's.
type wpPriorityTask struct {
	wpTask
	Prio int `json:"prio"`
}

func (t *wpPriorityTask) Priority() int { return t.Prio }

// TestPriorityClaimOrder: one worker runs due tasks by priority, urgent
// first, then oldest scheduled_at first within a priority; WithPriority
// overrides the task's Priority; tasks scheduled for later wait whatever
// their priority.
func TestPriorityClaimOrder(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	order := make(chan int, 16)
	env := wpNewEnv(t, db, func(_ context.Context, _ backie.Queue, task *wpTask) error {
		order <- task.N
		return nil
	})
	require.NoError(t, backie.RegisterFunc(env.reg, "wp_priority", func() *wpPriorityTask {
		return &wpPriorityTask{wpTask: wpTask{hook: env.hook}}
	}))
	ctx := context.Background()
	base := time.Now().Add(-time.Minute)
	create := func(n, prio int, at time.Time, opts ...backie.CreateOption) {
		t.Helper()
		task := &wpPriorityTask{wpTask: *env.task(n), Prio: prio}
		_, err := env.q.CreateTask(ctx, task, append(opts, backie.RunAt(at))...)
		require.NoError(t, err)
	}
	create(40, backie.PriorityLowest, base.Add(1*time.Second))
	create(21, backie.PriorityDefault, base.Add(2*time.Second))
	create(10, backie.PriorityUrgent, base.Add(5*time.Second))
	create(30, backie.PriorityLow, base.Add(0))
	create(20, backie.PriorityDefault, base.Add(1*time.Second))
	create(11, backie.PriorityLowest, base.Add(6*time.Second), backie.WithPriority(backie.PriorityUrgent))
	create(99, backie.PriorityUrgent, time.Now().Add(time.Hour))
	plain := env.task(22) // TaskDefaults: PriorityDefault
	_, err := env.q.CreateTask(ctx, plain, backie.RunAt(base.Add(3*time.Second)))
	require.NoError(t, err)

	wpStart(t, env.q, backie.Config{Workers: 1})
	var got []int
	for range 7 {
		got = append(got, wpRecv(t, order, "a task to run"))
	}
	require.Equal(t, []int{10, 11, 20, 21, 22, 30, 40}, got)

	_, err = env.q.CreateTask(ctx, env.task(1), backie.WithPriority(0))
	require.ErrorIs(t, err, backie.ErrInvalidPriority)
	_, err = env.q.CreateTask(ctx, &wpPriorityTask{wpTask: *env.task(1), Prio: 5})
	require.ErrorIs(t, err, backie.ErrInvalidPriority)
}

// TestClaimsAreHOT: claiming a task changes no indexed column, so
// PostgreSQL can update its row in place (a HOT update) without touching
// any index, with priorities and the pool's process id: no index, or index
// predicate, names a column a claim sets, and the claims of a drain are
// HOT updates (PostgreSQL also needs room on the row's page, which the
// table's fillfactor of 50 keeps: a few may not be).
func TestClaimsAreHOT(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	rows, err := db.Query(context.Background(), `SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'backie_tasks'::regclass`)
	require.NoError(t, err)
	defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.NotEmpty(t, defs)
	for _, def := range defs {
		for _, col := range []string{"running_at", "attempt", "timeout_msecs", "process_id"} {
			require.NotContains(t, def, col, "a claim sets %s", col)
		}
	}

	// The pool runs on connections of its own, closed after the drain: a
	// backend reports its statistics when it exits.
	schema := dbtest.Schema(t)
	work := dbtest.PoolFor(t, schema, 4)
	check := dbtest.PoolFor(t, schema, 1)
	require.NoError(t, backie.Migrate(context.Background(), check, backie.MigrateConfig{}))
	env := wpNewEnv(t, work, func(context.Context, backie.Queue, *wpTask) error { return nil })
	const n = 200
	tasks := make([]*wpTask, n)
	for i := range tasks {
		tasks[i] = env.task(i)
	}
	env.create(t, tasks...)
	// RemoveAll: each task is claimed (an UPDATE) then deleted, never
	// updated again. Claims of a few tasks, without claim-ahead: a claim
	// that updates every row of a page at once runs out of the page's free
	// space whatever columns it sets (about 90% of a 100k drain's claims
	// are HOT, with claim-ahead or without).
	wp, stop := wpStart(t, env.q, backie.Config{Workers: 4, ClaimAhead: backie.NoClaimAhead, Retention: backie.RemoveAll})
	env.eventuallyEmpty(t)
	stop()
	wpStopped(t, wp)
	work.Close()
	var upd, hot int64
	waitFor(t, wpWait, func() bool {
		require.NoError(t, check.QueryRow(context.Background(), `SELECT n_tup_upd, n_tup_hot_upd
			FROM pg_stat_user_tables WHERE relid = 'backie_tasks'::regclass`).Scan(&upd, &hot))
		_, _ = check.Exec(context.Background(), `SELECT pg_stat_clear_snapshot()`)
		return upd >= n
	}, "the statistics did not count the claims (%d updates)", upd)
	require.GreaterOrEqual(t, float64(hot), 0.95*float64(upd), "claims are HOT updates (%d of %d)", hot, upd)
}
