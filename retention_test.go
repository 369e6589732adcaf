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

// TestRetention runs a task that succeeds and one that fails for good under
// each retention mode, and checks which rows stay and what they hold.
func TestRetention(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode                     backie.RetentionMode
		keepSuccess, keepFailure bool
	}{
		{backie.RemoveFinished, false, true},
		{backie.KeepAll, true, true},
		{backie.RemoveAll, false, false},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			t.Parallel()
			db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
			var runs wpRuns
			env := wpNewEnv(t, db, func(_ context.Context, _ backie.Queue, task *wpTask) error {
				runs.add(task.N)
				if task.N == 2 {
					return errors.New("fails for good")
				}
				return nil
			})
			recs := env.create(t, env.task(1), env.task(2))
			ok, failed := recs[0], recs[1]
			wp, _ := wpStart(t, env.q, backie.Config{Workers: 2, Retention: tc.mode})
			require.Equal(t, tc.mode, wp.Config().Retention)

			// Both ran and finished: no row is left unfinished.
			require.Eventually(t, func() bool {
				return runs.total() == 2 && env.count(t, `SELECT count(*) FROM backie_tasks WHERE done_at IS NULL`) == 0
			}, wpWait, 10*time.Millisecond)

			if tc.keepSuccess {
				got := env.find(t, ok.ID)
				require.Equal(t, backie.StateDone, got.State())
				require.NotNil(t, got.DoneAt)
				require.Nil(t, got.Error)
				require.Equal(t, int64(1), env.count(t, `SELECT count(*) FROM backie_tasks WHERE id = $1 AND error_info IS NULL`, ok.ID))
			} else {
				require.True(t, env.gone(t, ok.ID), "the succeeded task must be removed")
			}
			if tc.keepFailure {
				got := env.find(t, failed.ID)
				require.Equal(t, backie.StateFailed, got.State())
				require.NotNil(t, got.DoneAt)
				require.NotNil(t, got.Error)
				require.Contains(t, got.Error.Message, "fails for good")
			} else {
				require.True(t, env.gone(t, failed.ID), "the failed task must be removed")
			}
			require.Equal(t, 1, runs.get(1))
			require.Equal(t, 1, runs.get(2))
		})
	}
}
