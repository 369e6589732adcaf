package backie_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// TestManyProcesses runs 3,000 tasks on worker pools in three processes
// sharing one schema: each task records its run in a side table, and each
// ran exactly once.
func TestManyProcesses(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts child processes")
	}
	const (
		children = 3
		total    = 3000
	)
	schema := dbtest.Schema(t)
	db := dbtest.PoolFor(t, schema, 4)
	ctx := context.Background()
	require.NoError(t, backie.Migrate(ctx, db, backie.MigrateConfig{}))
	childTables(t, db)
	env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error {
		return fmt.Errorf("tasks must run in the child processes")
	})
	kids := make([]*child, children)
	for i := range kids {
		kids[i] = startChild(t, childSpec{Schema: schema, Workers: 10, PollInterval: 100 * time.Millisecond})
	}

	// All children listen; enqueue.
	ids := make(map[backie.TaskID]bool, total)
	for start := 0; start < total; start += 500 {
		tasks := make([]*wpTask, 0, 500)
		for n := start; n < start+500; n++ {
			tasks = append(tasks, env.task(n))
		}
		for _, rec := range env.create(t, tasks...) {
			ids[rec.ID] = true
		}
	}
	require.Len(t, ids, total)
	waitFor(t, 60*time.Second, func() bool { return env.count(t, `SELECT count(*) FROM backie_tasks`) == 0 },
		"the children did not run every task")
	for _, k := range kids {
		k.stop(t)
	}

	require.Equal(t, int64(total), env.count(t, `SELECT count(*) FROM runs`))
	require.Equal(t, int64(total), env.count(t, `SELECT count(DISTINCT task_id) FROM runs`), "a task ran twice")
	require.Zero(t, env.count(t, `SELECT count(*) FROM runs WHERE attempt <> 1`), "a task was claimed twice")
	rows, err := db.Query(ctx, `SELECT task_id FROM runs`)
	require.NoError(t, err)
	for rows.Next() {
		var id backie.TaskID
		require.NoError(t, rows.Scan(&id))
		require.True(t, ids[id], "unknown task %s ran", id)
	}
	require.NoError(t, rows.Err())

	var per []string
	rows, err = db.Query(ctx, `SELECT pid, count(*) FROM runs GROUP BY pid ORDER BY pid`)
	require.NoError(t, err)
	for rows.Next() {
		var pid, n int64
		require.NoError(t, rows.Scan(&pid, &n))
		per = append(per, strconv.FormatInt(pid, 10)+":"+strconv.FormatInt(n, 10))
	}
	require.NoError(t, rows.Err())
	t.Logf("runs per process: %s", strings.Join(per, " "))
}
