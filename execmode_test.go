package backie_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// TestQueryExecModes runs the whole path — batch and single enqueues, a
// unique task, find and remove, claims, successes, a failure retried once
// (its error written), finishing writes —
// on pgx pools in every query exec mode. Users behind PgBouncer in
// transaction mode switch to the simple protocol or to unprepared
// statements, and the claim and finishing round trips, which carry their
// plan settings in the same batch, must work there as well.
func TestQueryExecModes(t *testing.T) {
	t.Parallel()
	modes := map[string]pgx.QueryExecMode{
		"cache statement": pgx.QueryExecModeCacheStatement,
		"cache describe":  pgx.QueryExecModeCacheDescribe,
		"describe exec":   pgx.QueryExecModeDescribeExec,
		"exec":            pgx.QueryExecModeExec,
		"simple protocol": pgx.QueryExecModeSimpleProtocol,
	}
	for name, mode := range modes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := dbtest.Pool(t, dbtest.Options{MaxConns: 6, ExecMode: mode})
			const batch, single = 200, 20
			var (
				runs   wpRuns
				failed sync.Map // task N -> failed once already
				done   = make(chan int, 2*(batch+single+1))
			)
			env := wpNewEnv(t, db, func(_ context.Context, _ backie.Queue, task *wpTask) error {
				runs.add(task.N)
				if task.N%10 == 0 && task.N < batch {
					if _, again := failed.LoadOrStore(task.N, true); !again {
						return fmt.Errorf("task %d fails its first attempt", task.N)
					}
				}
				done <- task.N
				return nil
			})
			tasks := make([]*wpTask, batch)
			for i := range tasks {
				tasks[i] = env.task(i)
				tasks[i].Retries = 1
			}
			env.create(t, tasks...)
			ctx := context.Background()
			var wg sync.WaitGroup
			for i := range single {
				wg.Go(func() {
					_, err := env.q.CreateTask(ctx, env.task(batch+i))
					require.NoError(t, err)
				})
			}
			wg.Wait()
			require.NoError(t, backie.RegisterFunc(env.reg, "wp_unique", func() *wpUniqueTask {
				return &wpUniqueTask{wpTask: wpTask{hook: env.hook}}
			}))
			unique := &wpUniqueTask{wpTask: *env.task(batch + single)}
			first, err := env.q.CreateTask(ctx, unique)
			require.NoError(t, err)
			second, err := env.q.CreateTask(ctx, unique)
			require.NoError(t, err)
			require.Equal(t, first.ID, second.ID, "the unique task was inserted twice")
			found, err := env.q.FindTask(ctx, first.ID)
			require.NoError(t, err)
			require.Equal(t, first.ID, found.ID)
			require.JSONEq(t, string(first.Payload), string(found.Payload))
			gone, err := env.q.CreateTask(ctx, env.task(-1))
			require.NoError(t, err)
			require.NoError(t, env.q.RemoveTask(ctx, gone.ID))
			_, err = env.q.FindTask(ctx, gone.ID)
			require.ErrorIs(t, err, backie.ErrNotFound)

			wpStart(t, env.q, backie.Config{Workers: 8})
			want := batch + single + 1
			for range want {
				wpRecv(t, done, "a task to succeed")
			}
			env.eventuallyEmpty(t)
			for n := range want {
				wantRuns := 1
				if n%10 == 0 && n < batch {
					wantRuns = 2
				}
				require.Equal(t, wantRuns, runs.get(n), "runs of task %d", n)
			}
		})
	}
}

// wpUniqueTask is a wpTask that is unique by its payload.
type wpUniqueTask struct{ wpTask }

func (t *wpUniqueTask) Uniq() (backie.TaskHash, error) { return backie.HashOf(t.wpTask) }
