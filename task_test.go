package backie_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
)

func TestTaskRecordStateAt(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	past, future := now.Add(-time.Minute), now.Add(time.Minute)
	info := &backie.ErrorInfo{Message: "boom"}
	for _, tc := range []struct {
		name string
		rec  backie.TaskRecord
		want backie.TaskState
	}{
		{"ready", backie.TaskRecord{ScheduledAt: past}, backie.StateReady},
		{"ready when due exactly now", backie.TaskRecord{ScheduledAt: now}, backie.StateReady},
		{"ready with the error of a retried attempt", backie.TaskRecord{ScheduledAt: past, Error: info, Retries: 1}, backie.StateReady},
		{"scheduled", backie.TaskRecord{ScheduledAt: future}, backie.StateScheduled},
		{"scheduled to retry", backie.TaskRecord{ScheduledAt: future, Error: info, Retries: 2}, backie.StateScheduled},
		{"running", backie.TaskRecord{ScheduledAt: past, RunningAt: &past}, backie.StateRunning},
		{"running whatever scheduled_at", backie.TaskRecord{ScheduledAt: future, RunningAt: &now}, backie.StateRunning},
		{"done", backie.TaskRecord{ScheduledAt: past, RunningAt: &past, DoneAt: &now}, backie.StateDone},
		{"done without running_at", backie.TaskRecord{ScheduledAt: future, DoneAt: &now}, backie.StateDone},
		{"failed", backie.TaskRecord{ScheduledAt: past, RunningAt: &past, DoneAt: &now, Error: info}, backie.StateFailed},
		{"failed with an empty message", backie.TaskRecord{ScheduledAt: future, DoneAt: &now, Error: &backie.ErrorInfo{}}, backie.StateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.rec.StateAt(now))
		})
	}

	rec := backie.TaskRecord{ScheduledAt: time.Now().Add(time.Hour)}
	assert.Equal(t, backie.StateScheduled, rec.State(), "State is StateAt(time.Now())")
	rec.ScheduledAt = time.Now().Add(-time.Hour)
	assert.Equal(t, backie.StateReady, rec.State())

	assert.Equal(t, []backie.TaskState{"ready", "scheduled", "running", "done", "failed"},
		[]backie.TaskState{backie.StateReady, backie.StateScheduled, backie.StateRunning, backie.StateDone, backie.StateFailed})
}

// The state of real rows, put in each state with SQL, as FindTask returns
// them, agrees with SPEC.md's table evaluated in SQL.
func TestTaskRecordStateOfRows(t *testing.T) {
	t.Parallel()
	q, pool := enqQueue(t)
	ctx := t.Context()

	for _, tc := range []struct {
		name   string
		update string // applied to the new task's row; $1 is its id
		want   backie.TaskState
	}{
		{"ready", ``, backie.StateReady},
		{"scheduled", `UPDATE backie_tasks SET scheduled_at = now() + interval '1 hour' WHERE id = $1`, backie.StateScheduled},
		{"scheduled to retry", `UPDATE backie_tasks SET scheduled_at = now() + interval '1 hour', retries = 1,
			error_info = '{"message":"boom","kind":"error","attempt":0}' WHERE id = $1`, backie.StateScheduled},
		{"running", `UPDATE backie_tasks SET running_at = now(), attempt = 1 WHERE id = $1`, backie.StateRunning},
		{"done", `UPDATE backie_tasks SET running_at = now(), done_at = now(), attempt = 1 WHERE id = $1`, backie.StateDone},
		{"failed", `UPDATE backie_tasks SET running_at = now(), done_at = now(), attempt = 1,
			error_info = '{"message":"boom","kind":"panic","stack":"s","attempt":0}' WHERE id = $1`, backie.StateFailed},
		{"failed with error_info that is not an ErrorInfo", `UPDATE backie_tasks SET done_at = now(),
			error_info = '"just a string"' WHERE id = $1`, backie.StateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := q.CreateTask(ctx, &enqTask{N: 1})
			require.NoError(t, err)
			if tc.update != "" {
				tag, err := pool.Exec(ctx, tc.update, rec.ID)
				require.NoError(t, err)
				require.Equal(t, int64(1), tag.RowsAffected())
			}
			found, err := q.FindTask(ctx, rec.ID)
			require.NoError(t, err)
			assert.Equal(t, tc.want, found.State())
			assert.Equal(t, tc.want, enqSQLState(t, pool, rec.ID))
			switch tc.want {
			case backie.StateRunning:
				require.NotNil(t, found.RunningAt)
				assert.Equal(t, 1, found.Attempt)
			case backie.StateDone:
				require.NotNil(t, found.DoneAt)
				assert.Nil(t, found.Error)
			case backie.StateFailed:
				require.NotNil(t, found.DoneAt)
				require.NotNil(t, found.Error)
				assert.NotEmpty(t, found.Error.Message)
			}
		})
	}

	// error_info is decoded into ErrorInfo.
	rec, err := q.CreateTask(ctx, &enqTask{N: 2})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE backie_tasks SET done_at = now(), retries = 3,
		error_info = '{"message":"boom","kind":"panic","stack":"main.go:1","attempt":3,"at":"2025-01-02T03:04:05Z"}' WHERE id = $1`, rec.ID)
	require.NoError(t, err)
	found, err := q.FindTask(ctx, rec.ID)
	require.NoError(t, err)
	assert.Equal(t, &backie.ErrorInfo{Message: "boom", Kind: backie.ErrorKindPanic, Stack: "main.go:1", Retries: 3,
		At: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}, found.Error, "stored before Retries had its name")
	assert.Equal(t, 3, found.Retries)

	_, err = pool.Exec(ctx, `UPDATE backie_tasks SET
		error_info = '{"message":"m","kind":"error","permanent":true,"retries":2,"at":"2025-01-02T03:04:05Z"}' WHERE id = $1`, rec.ID)
	require.NoError(t, err)
	found, err = q.FindTask(ctx, rec.ID)
	require.NoError(t, err)
	assert.Equal(t, &backie.ErrorInfo{Message: "m", Kind: backie.ErrorKindError, Permanent: true, Retries: 2,
		At: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}, found.Error)
}

func TestTaskDefaults(t *testing.T) {
	t.Parallel()
	var d backie.TaskDefaults
	assert.Equal(t, backie.TaskType("common"), d.TaskType())
	hash, err := d.Uniq()
	assert.NoError(t, err)
	assert.Equal(t, backie.TaskHash(""), hash)
	assert.Equal(t, 20, d.MaxRetries())
	assert.Equal(t, 2*time.Minute, d.Timeout())
	for retries, want := range map[int]time.Duration{
		-5: time.Second, 0: time.Second, 1: 2 * time.Second, 3: 8 * time.Second, 10: 1024 * time.Second,
		30: (1 << 30) * time.Second, 31: (1 << 30) * time.Second, math.MaxInt: (1 << 30) * time.Second,
	} {
		assert.Equal(t, want, backie.ExponentialBackoff(retries), "ExponentialBackoff(%d)", retries)
		// The default is jittered: within [0.75, 1.25) of the exponential
		// backoff, and not the same for every call.
		seen := map[time.Duration]bool{}
		for range 50 {
			got := d.Backoff(retries)
			assert.GreaterOrEqual(t, got, want*3/4, "Backoff(%d)", retries)
			assert.Less(t, got, want*5/4, "Backoff(%d)", retries)
			seen[got] = true
		}
		assert.Greater(t, len(seen), 1, "Backoff(%d) has no jitter", retries)
	}

	// A task embedding TaskDefaults only writes Run.
	var task backie.Task = &enqTask{}
	assert.Equal(t, backie.TaskTypeDefault, task.TaskType())
	assert.Equal(t, backie.MaxRetriesDefault, task.MaxRetries())
	assert.Equal(t, backie.TaskTimeoutDefault, task.Timeout())
}

func TestHashOf(t *testing.T) {
	t.Parallel()
	type key struct {
		A string
		B int
	}
	h := mustHash(t, key{"x", 1})
	assert.Len(t, h, 64, "hex SHA-256")
	assert.LessOrEqual(t, len(h), backie.MaxTaskHashLen)
	assert.Equal(t, h, mustHash(t, key{"x", 1}), "deterministic")
	assert.Equal(t, h, mustHash(t, &key{"x", 1}), "of the JSON encoding")
	assert.NotEqual(t, h, mustHash(t, key{"x", 2}))
	assert.NotEqual(t, h, mustHash(t, key{"y", 1}))
	// SHA-256 of the JSON "k".
	assert.Equal(t, backie.TaskHash("37664d5895f78758ec8e94e440b30c9a2cfc68873c28306301b40d6a2f3fefa3"), mustHash(t, "k"))
	for name, v := range map[string]any{"chan": make(chan int), "NaN": math.NaN(), "MarshalJSON error": &enqMarshalErrTask{}} {
		hash, err := backie.HashOf(v)
		assert.Error(t, err, "%s: an unencodable value has no hash", name)
		assert.Empty(t, hash, name)
	}
}

func TestRecordFromContextOutsideTask(t *testing.T) {
	t.Parallel()
	rec, ok := backie.RecordFromContext(context.Background())
	assert.False(t, ok)
	assert.Nil(t, rec)

	type otherKey struct{}
	ctx := context.WithValue(t.Context(), otherKey{}, &backie.TaskRecord{})
	rec, ok = backie.RecordFromContext(ctx)
	assert.False(t, ok, "another package's value is not a task record")
	assert.Nil(t, rec)
}
