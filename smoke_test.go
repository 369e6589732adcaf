package backie_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

type smokeTask struct {
	backie.TaskDefaults
	N int `json:"n"`
}

var smokeRuns atomic.Int64

func (t *smokeTask) Run(ctx context.Context, q backie.Queue) error {
	smokeRuns.Add(int64(t.N))
	return nil
}

// TestSmoke is not parallel: it counts runs in a package variable.
func TestSmoke(t *testing.T) {
	smokeRuns.Store(0)
	pool := dbtest.Pool(t)
	reg := backie.NewRegistry()
	require.NoError(t, backie.Register[*smokeTask](reg, "smoke"))
	q := backie.NewPgQueue(pool, reg)
	ctx := context.Background()
	rec, err := q.CreateTask(ctx, &smokeTask{N: 1})
	require.NoError(t, err)
	require.Equal(t, backie.StateReady, rec.State())
	recs, err := q.CreateTasks(ctx, []backie.Task{&smokeTask{N: 10}, &smokeTask{N: 100}})
	require.NoError(t, err)
	require.Len(t, recs, 2)

	wp, err := backie.NewWorkerPool(q, backie.Config{Workers: 4})
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(ctx)
	require.NoError(t, wp.Start(runCtx))
	t.Cleanup(func() { cancel(); wp.Wait() }) // also when an assertion fails
	require.Eventually(t, func() bool { return smokeRuns.Load() == 111 }, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		_, err := q.FindTask(ctx, rec.ID)
		return err != nil
	}, 10*time.Second, 5*time.Millisecond)
	cancel()
	wp.Wait()
}
