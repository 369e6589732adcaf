package backietest_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backietest"
)

// Tasks that CreateTask refuses, one per rule.
type (
	// BadType has a TaskType with a NUL byte.
	BadType struct{ Email }
	// LongType has a TaskType longer than MaxTaskTypeLen.
	LongType struct{ Email }
	// FailingUniq's Uniq fails.
	FailingUniq struct{ Email }
	// LongUniq's hash is longer than MaxTaskHashLen.
	LongUniq struct{ Email }
	// NULUniq's hash holds a NUL byte.
	NULUniq struct{ Email }
	// BadPriority has priority 0.
	BadPriority struct{ Email }
	// Unencodable has a payload JSON cannot encode.
	Unencodable struct {
		Email
		Ratio float64 `json:"ratio"`
	}
)

func (*BadType) TaskType() backie.TaskType { return "bad\x00type" }
func (*LongType) TaskType() backie.TaskType {
	return backie.TaskType(strings.Repeat("t", backie.MaxTaskTypeLen+1))
}
func (*FailingUniq) Uniq() (backie.TaskHash, error) {
	return backie.HashOf(func() {}) // a func: JSON cannot encode it
}
func (*LongUniq) Uniq() (backie.TaskHash, error) {
	return backie.TaskHash(strings.Repeat("h", backie.MaxTaskHashLen+1)), nil
}
func (*NULUniq) Uniq() (backie.TaskHash, error) { return "a\x00b", nil }
func (*BadPriority) Priority() int              { return 0 }

// validationCases are enqueues the real queue refuses, with the sentinel
// each error wraps.
func validationCases() []struct {
	name string
	task backie.Task
	opts []backie.CreateOption
	want error
} {
	return []struct {
		name string
		task backie.Task
		opts []backie.CreateOption
		want error
	}{
		{"nil task", nil, nil, backie.ErrNilTask},
		{"nil pointer", (*Email)(nil), nil, backie.ErrNilTask},
		{"unregistered type", &Unregistered{X: 1}, nil, backie.ErrTaskNotRegistered},
		{"task type with NUL", &BadType{}, nil, backie.ErrInvalidTaskType},
		{"task type too long", &LongType{}, nil, backie.ErrInvalidTaskType},
		{"failing Uniq", &FailingUniq{}, nil, backie.ErrInvalidUniqHash},
		{"hash too long", &LongUniq{}, nil, backie.ErrInvalidUniqHash},
		{"hash with NUL", &NULUniq{}, nil, backie.ErrInvalidUniqHash},
		{"priority of the task", &BadPriority{}, nil, backie.ErrInvalidPriority},
		{"priority option", &Email{To: "a"}, []backie.CreateOption{backie.WithPriority(9)}, backie.ErrInvalidPriority},
		{"unencodable payload", &Unencodable{Ratio: math.NaN()}, nil, backie.ErrEncodePayload},
		{"NUL in the payload", &Email{To: "a\x00b"}, nil, backie.ErrEncodePayload},
	}
}

// validationRegistry registers the tasks of validationCases but
// Unregistered.
func validationRegistry(t *testing.T) *backie.Registry {
	reg := newRegistry(t, nil)
	require.NoError(t, backie.Register[*BadType](reg, "bad_type"))
	require.NoError(t, backie.Register[*LongType](reg, "long_type"))
	require.NoError(t, backie.Register[*FailingUniq](reg, "failing_uniq"))
	require.NoError(t, backie.Register[*LongUniq](reg, "long_uniq"))
	require.NoError(t, backie.Register[*NULUniq](reg, "nul_uniq"))
	require.NoError(t, backie.Register[*BadPriority](reg, "bad_priority"))
	require.NoError(t, backie.Register[*Unencodable](reg, "unencodable"))
	return reg
}

// TestRecordingQueueValidatesAsPgQueue pins the recording queue's errors
// to the real queue's: the same sentinel and the same message for every
// enqueue PgQueue refuses, one at a time and in a batch. The recording
// queue borrows the library's validation (see prepare.go); if the
// library's changes, this test says so.
func TestRecordingQueueValidatesAsPgQueue(t *testing.T) {
	t.Parallel()
	reg := validationRegistry(t)
	real := backie.NewPgQueue(backietest.Pool(t), reg)
	rec := backietest.NewRecordingQueue(reg)
	ctx := t.Context()

	for _, c := range validationCases() {
		t.Run(c.name, func(t *testing.T) {
			_, realErr := real.CreateTask(ctx, c.task, c.opts...)
			_, recErr := rec.CreateTask(ctx, c.task, c.opts...)
			require.ErrorIs(t, realErr, c.want)
			require.ErrorIs(t, recErr, c.want)
			if c.name == "NUL in the payload" {
				// PostgreSQL refuses it, with its own message.
				require.ErrorContains(t, recErr, "backie: create task: cannot encode task payload")
			} else {
				require.Equal(t, realErr.Error(), recErr.Error())
			}

			batch := []backie.Task{&Email{To: "first"}, c.task, &Email{To: "third"}}
			_, realErr = real.CreateTasks(ctx, batch, c.opts...)
			_, recErr = rec.CreateTasks(ctx, batch, c.opts...)
			require.ErrorIs(t, realErr, c.want)
			require.ErrorIs(t, recErr, c.want)
			if c.name != "NUL in the payload" {
				require.Equal(t, realErr.Error(), recErr.Error())
			}
		})
	}
	require.Empty(t, rec.Enqueued(), "a refused enqueue records nothing")
	require.Empty(t, rec.Tasks())
	n, err := real.RemoveAllTasks(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "a refused enqueue stores nothing")
}

// TestRecordingQueueRecordsAsPgQueue: the records the recording queue
// returns are those PgQueue returns, but for the id and the times; unique
// tasks are stored once, and the second enqueue returns the first's record.
func TestRecordingQueueRecordsAsPgQueue(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t, nil)
	real := backie.NewPgQueue(backietest.Pool(t), reg)
	rec := backietest.NewRecordingQueue(reg)
	ctx := t.Context()

	tasks := []backie.Task{&Email{To: "ann@example.com", Subject: "Hi"}, &Welcome{To: "ann@example.com"},
		&Job{Do: doFail, Retries: 3, TimeoutMS: 1500}}
	opts := []backie.CreateOption{backie.WithPriority(backie.PriorityUrgent)}
	want, err := real.CreateTasks(ctx, tasks, opts...)
	require.NoError(t, err)
	got, err := rec.CreateTasks(ctx, tasks, opts...)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		w, g := *want[i], *got[i]
		require.NotEqual(t, w.ID, g.ID)
		require.False(t, g.CreatedAt.IsZero())
		require.Equal(t, g.CreatedAt, g.ScheduledAt)
		w.ID, g.ID = backie.TaskID{}, backie.TaskID{}
		w.CreatedAt, w.ScheduledAt, g.CreatedAt, g.ScheduledAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		require.Equal(t, w, g, "task %d", i)
	}

	// The unique task again: nothing stored, the holder's record returned.
	again, err := real.CreateTask(ctx, &Welcome{To: "ann@example.com"})
	require.NoError(t, err)
	require.Equal(t, want[1].ID, again.ID)
	recAgain, err := rec.CreateTask(ctx, &Welcome{To: "ann@example.com"})
	require.NoError(t, err)
	require.Equal(t, got[1].ID, recAgain.ID)

	enq := rec.Enqueued()
	require.Len(t, enq, 4)
	require.False(t, enq[1].Existing)
	require.True(t, enq[3].Existing)
	require.Equal(t, got[1].ID, enq[3].Record.ID)
	require.Len(t, enq[0].Options, 1, "options are recorded as given")
	require.Equal(t, tasks[0], enq[0].Task)
	require.Len(t, rec.Tasks(), 3, "the unique task is stored once")
}

// TestRecordingQueueFindAndRemove: FindTask, RemoveTask, RemoveTasksByType
// and RemoveAllTasks as PgQueue's, with its errors.
func TestRecordingQueueFindAndRemove(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t, nil)
	real := backie.NewPgQueue(backietest.Pool(t), reg)
	rec := backietest.NewRecordingQueue(reg)
	ctx := t.Context()

	for _, q := range []backie.Queue{real, rec} {
		a, err := q.CreateTask(ctx, &Email{To: "a"})
		require.NoError(t, err)
		_, err = q.CreateTask(ctx, &Welcome{To: "b"})
		require.NoError(t, err)
		found, err := q.FindTask(ctx, a.ID)
		require.NoError(t, err)
		require.Equal(t, a.ID, found.ID)
		require.NoError(t, q.RemoveTask(ctx, a.ID))
		n, err := q.RemoveTasksByType(ctx, "no such type")
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = q.RemoveTasksByType(ctx, backie.TaskTypeDefault)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		_, err = q.CreateTask(ctx, &Email{To: "c"})
		require.NoError(t, err)
		n, err = q.RemoveAllTasks(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
	}
	missing := backie.TaskID{1}
	_, realErr := real.FindTask(ctx, missing)
	_, recErr := rec.FindTask(ctx, missing)
	require.ErrorIs(t, recErr, backie.ErrNotFound)
	require.Equal(t, realErr.Error(), recErr.Error())
	realErr, recErr = real.RemoveTask(ctx, missing), rec.RemoveTask(ctx, missing)
	require.ErrorIs(t, recErr, backie.ErrNotFound)
	require.Equal(t, realErr.Error(), recErr.Error())

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, realErr = real.CreateTask(cancelled, &Email{To: "a"})
	_, recErr = rec.CreateTask(cancelled, &Email{To: "a"})
	require.ErrorIs(t, recErr, context.Canceled)
	require.Equal(t, realErr.Error(), recErr.Error())
	_, realErr = real.FindTask(cancelled, missing)
	_, recErr = rec.FindTask(cancelled, missing)
	require.Equal(t, realErr.Error(), recErr.Error())

	require.Len(t, rec.Enqueued(), 3, "removing a task keeps its enqueue")
	rec.Reset()
	assert.Empty(t, rec.Enqueued())
	assert.Empty(t, rec.Tasks())
}

// TestRecordingQueueConcurrent: handlers under test may enqueue from many
// goroutines.
func TestRecordingQueueConcurrent(t *testing.T) {
	t.Parallel()
	rec := backietest.NewRecordingQueue(newRegistry(t, nil))
	done := make(chan error)
	for i := range 8 {
		go func() {
			_, err := rec.CreateTask(context.Background(), &Email{To: strings.Repeat("x", i+1)})
			done <- err
		}()
	}
	for range 8 {
		require.NoError(t, <-done)
	}
	require.Len(t, rec.Enqueued(), 8)
}

// TestRecordingQueueWithoutRegistry: a queue made without
// NewRecordingQueue says so.
func TestRecordingQueueWithoutRegistry(t *testing.T) {
	t.Parallel()
	_, err := new(backietest.RecordingQueue).CreateTask(t.Context(), &Email{})
	require.ErrorIs(t, err, backie.ErrInvalidConfig)
	require.ErrorContains(t, err, "use NewRecordingQueue")
}
