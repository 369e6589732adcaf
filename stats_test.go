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

// TestStatsWithoutPools: with no leader to count, Stats counts itself; the
// counts by state and type, the lag of each type and the paused types.
func TestStatsWithoutPools(t *testing.T) {
	t.Parallel()
	q, byState := listSeed(t)
	ctx := t.Context()
	require.NoError(t, q.PauseType(ctx, "mail"))
	st, err := q.Stats(ctx)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), st.CountedAt, time.Minute)
	for _, s := range backie.AllStates {
		require.Equal(t, int64(len(byState[s])), st.Totals.Of(s), "state %s", s)
	}
	require.Equal(t, int64(42), st.Totals.Total())
	require.Len(t, st.Types, 2)
	common, mail := st.Types[0], st.Types[1]
	require.Equal(t, backie.TaskType("common"), common.Type)
	require.Equal(t, backie.TaskType("mail"), mail.Type)
	require.True(t, mail.Paused)
	require.False(t, common.Paused)
	require.Equal(t, []backie.PausedType{{Type: "mail", PausedAt: st.Paused[0].PausedAt}}, st.Paused)
	require.Equal(t, int64(5), common.Ready)
	require.Equal(t, int64(2), mail.Ready)
	// The oldest Ready task was due about an hour ago.
	require.InDelta(t, time.Hour.Seconds(), common.Lag.Seconds(), 120)
	require.Empty(t, st.Processes)
	// Ready tasks due for over a minute that no pool serves.
	require.Len(t, st.Unserved, 2)
	require.Equal(t, "enq_mail", st.Unserved[0].Name)
	require.Equal(t, int64(2), st.Unserved[0].Count)
	require.Equal(t, "enq_task", st.Unserved[1].Name)
}

// TestStatsWithPools: the leader counts; Stats shows the live pools with
// the leader, what they run, the names they leave unserved, and the
// throughput of the last hour.
func TestStatsWithPools(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 6})
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, task *wpTask) error {
		switch task.N {
		case 0:
			started <- struct{}{}
			<-release
		case 1:
			return errors.New("fails")
		}
		return nil
	})
	ctx := context.Background()
	// A task of a name this pool does not serve, due for two minutes.
	otherReg := backie.NewRegistry()
	require.NoError(t, backie.Register[*wpOtherTask](otherReg, "wp_other"))
	_, err := backie.NewPgQueue(db, otherReg).CreateTask(ctx, &wpOtherTask{Key: env.key}, backie.RunAt(time.Now().Add(-2*time.Minute)))
	require.NoError(t, err)
	start := time.Now()
	wpStart(t, env.q, backie.Config{Workers: 2, Retention: backie.KeepAll})
	env.create(t, env.task(0), env.task(1), env.task(2), env.task(3))
	wpRecv(t, started, "the blocking task")

	var st *backie.Stats
	env.await(t, func() bool {
		var err error
		st, err = env.q.Stats(ctx)
		require.NoError(t, err)
		var done int64
		for _, tp := range st.Throughput {
			done += tp.Done
		}
		return st.CountedAt.After(start) && st.Totals.Done == 2 && st.Totals.Failed == 1 && done == 2 &&
			len(st.Processes) == 1 && st.Processes[0].Running == 1
	}, "Stats did not show the pool's work")
	require.Equal(t, int64(1), st.Totals.Running)
	require.Equal(t, int64(1), st.Totals.Ready, "the unserved task")
	p := st.Processes[0]
	require.True(t, p.Leader)
	require.Equal(t, 2, p.Workers)
	require.Equal(t, []string{"wp_task"}, p.TaskNames)
	require.Nil(t, p.TaskTypes, "every type")
	require.Len(t, st.Unserved, 1)
	require.Equal(t, "wp_other", st.Unserved[0].Name)
	require.GreaterOrEqual(t, st.Unserved[0].DueFor, 2*time.Minute)
	var failed int64
	for _, tp := range st.Throughput {
		failed += tp.Failed
	}
	require.Equal(t, int64(1), failed)
	procs, err := env.q.Processes(ctx)
	require.NoError(t, err)
	require.Equal(t, st.Processes[0].ID, procs[0].ID)
	close(release)
}
