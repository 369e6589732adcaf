package backietest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
// enqueue PgQueue refuses, one at a time, in a batch of one and in a
// batch. The recording queue validates with Registry.NewRecord and words
// the errors as CreateTask and CreateTasks do (see prepare.go); if either
// changes, this test says so.
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
			require.Equal(t, realErr.Error(), recErr.Error())

			for _, batch := range [][]backie.Task{{c.task}, {&Email{To: "first"}, c.task, &Email{To: "third"}}} {
				_, realErr = real.CreateTasks(ctx, batch, c.opts...)
				_, recErr = rec.CreateTasks(ctx, batch, c.opts...)
				require.ErrorIs(t, realErr, c.want)
				require.ErrorIs(t, recErr, c.want)
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
// returns are those PgQueue returns, but for the id and the clock: created
// at the queue's clock, and due when the options say, to the microsecond;
// unique tasks are stored once, and the second enqueue returns the first's
// record.
func TestRecordingQueueRecordsAsPgQueue(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t, nil)
	real := backie.NewPgQueue(backietest.Pool(t), reg)
	clock := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.UTC)
	rec := backietest.NewRecordingQueue(reg, backietest.RecordingQueueOptions{Now: func() time.Time { return clock }})
	ctx := t.Context()
	created := clock.Truncate(time.Microsecond)
	at := time.Now().Add(time.Hour) // with nanoseconds, which PostgreSQL does not keep
	var realWelcome backie.TaskID   // PgQueue's first Welcome

	for _, c := range []struct {
		name string
		opts []backie.CreateOption
		// due is when a task created at created is due.
		due func(created time.Time) time.Time
	}{
		{"no option", nil, func(c time.Time) time.Time { return c }},
		{"WithPriority", []backie.CreateOption{backie.WithPriority(backie.PriorityUrgent)},
			func(c time.Time) time.Time { return c }},
		{"RunAt", []backie.CreateOption{backie.RunAt(at), backie.WithPriority(backie.PriorityLowest)},
			func(time.Time) time.Time { return at.Truncate(time.Microsecond) }},
		{"RunAt in the past", []backie.CreateOption{backie.RunAt(clock.Add(-time.Hour))},
			func(time.Time) time.Time { return clock.Add(-time.Hour).Truncate(time.Microsecond) }},
		{"RunAfter", []backie.CreateOption{backie.RunAfter(90 * time.Second)},
			func(c time.Time) time.Time { return c.Add(90 * time.Second) }},
		{"RunAfter after RunAt", []backie.CreateOption{backie.RunAt(at), backie.RunAfter(time.Minute)},
			func(c time.Time) time.Time { return c.Add(time.Minute) }},
		{"RunAfter of nothing", []backie.CreateOption{backie.RunAfter(-time.Minute)},
			func(c time.Time) time.Time { return c }},
	} {
		t.Run(c.name, func(t *testing.T) {
			tasks := []backie.Task{&Email{To: "ann@example.com", Subject: "Hi"}, &Welcome{To: c.name},
				&Job{Do: doFail, Retries: 3, TimeoutMS: 1500}}
			want, err := real.CreateTasks(ctx, tasks, c.opts...)
			require.NoError(t, err)
			got, err := rec.CreateTasks(ctx, tasks, c.opts...)
			require.NoError(t, err)
			require.Len(t, got, len(want))
			if realWelcome == (backie.TaskID{}) {
				realWelcome = want[1].ID
			}
			for i := range want {
				w, g := *want[i], *got[i]
				require.NotEqual(t, w.ID, g.ID)
				require.True(t, created.Equal(g.CreatedAt), "created at the queue's clock: %v", g.CreatedAt)
				require.True(t, c.due(g.CreatedAt).Equal(g.ScheduledAt), "due %v", g.ScheduledAt)
				require.True(t, c.due(w.CreatedAt).Equal(w.ScheduledAt), "PgQueue: due %v", w.ScheduledAt)
				w.ID, g.ID = backie.TaskID{}, backie.TaskID{}
				w.CreatedAt, w.ScheduledAt, g.CreatedAt, g.ScheduledAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
				require.Equal(t, w, g, "task %d", i)
			}
			stored := rec.Tasks()
			require.Equal(t, got[2], stored[len(stored)-1], "Tasks holds what the call returned")
		})
	}

	// The unique task again: nothing stored, the holder's record returned.
	welcome := &Welcome{To: "no option"}
	first := backietest.RequireEnqueued[*Welcome](t, rec, backietest.Want{Payload: welcome, Count: 1})[0].Record
	again, err := real.CreateTask(ctx, welcome)
	require.NoError(t, err)
	require.Equal(t, realWelcome, again.ID)
	recAgain, err := rec.CreateTask(ctx, welcome, backie.RunAfter(time.Hour))
	require.NoError(t, err)
	require.Equal(t, first, recAgain, "the holder's record, as it was stored")

	enq := rec.Enqueued()
	require.Len(t, enq, 22)
	require.False(t, enq[1].Existing)
	require.True(t, enq[21].Existing)
	require.Equal(t, first.ID, enq[21].Record.ID)
	require.Len(t, enq[21].Options, 1, "options are recorded as given")
	require.Equal(t, &Email{To: "ann@example.com", Subject: "Hi"}, enq[0].Task)
	require.Len(t, rec.Tasks(), 21, "the unique task is stored once")
}

// mwMode, in a context, tells the middleware of
// TestRecordingQueueMiddleware what to do.
type mwMode struct{}

// TestRecordingQueueMiddleware: enqueue middleware runs on a recording
// queue as on a PgQueue: in order, once per call, on records without
// times until next stores them; its metadata is stored, its error and its
// panic are the call's, and a NUL in its metadata is refused.
func TestRecordingQueueMiddleware(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t, nil)
	middleware := func(log *[]string) []backie.EnqueueMiddleware {
		outer := func(ctx context.Context, recs []*backie.TaskRecord, next func(context.Context) error) error {
			first := recs[0]
			*log = append(*log, fmt.Sprintf("outer: %d records, id set %v, created set %v, scheduled set %v",
				len(recs), first.ID != backie.TaskID{}, !first.CreatedAt.IsZero(), !first.ScheduledAt.IsZero()))
			switch ctx.Value(mwMode{}) {
			case "refuse":
				return errors.New("refused")
			case "panic":
				panic("oops")
			case "nul":
				first.Metadata = map[string]string{"k": "a\x00b"}
			default:
				for _, r := range recs {
					r.Metadata = map[string]string{"tenant": "acme"}
				}
			}
			id := first.ID
			err := next(ctx)
			*log = append(*log, fmt.Sprintf("outer after next: %v, created set %v, same id %v",
				err, !first.CreatedAt.IsZero(), first.ID == id))
			return err
		}
		inner := func(ctx context.Context, recs []*backie.TaskRecord, next func(context.Context) error) error {
			*log = append(*log, "inner: tenant "+recs[0].Metadata["tenant"])
			return next(ctx)
		}
		return []backie.EnqueueMiddleware{outer, inner}
	}
	// scenario enqueues on q and returns what happened, to compare.
	scenario := func(q backie.Queue, log *[]string) []string {
		ctx := t.Context()
		with := func(mode string) context.Context { return context.WithValue(ctx, mwMode{}, mode) }
		say := func(recs []*backie.TaskRecord, err error) {
			if err != nil {
				*log = append(*log, "error: "+strings.SplitN(err.Error(), "\n", 2)[0])
				return
			}
			for _, r := range recs {
				var payload map[string]any // a record read back from jsonb has its spacing
				require.NoError(t, json.Unmarshal(r.Payload, &payload))
				*log = append(*log, fmt.Sprintf("%s %v %v", r.Name, payload, r.Metadata))
			}
		}
		one := func(r *backie.TaskRecord, err error) { say([]*backie.TaskRecord{r}, err) }
		one(q.CreateTask(ctx, &Welcome{To: "ann@example.com"}))
		one(q.CreateTask(ctx, &Welcome{To: "ann@example.com"})) // held: the holder's record
		say(q.CreateTasks(ctx, []backie.Task{&Email{To: "a"}, &Email{To: "b"}}))
		one(q.CreateTask(with("refuse"), &Email{To: "c"}))
		one(q.CreateTask(with("panic"), &Email{To: "d"}))
		say(q.CreateTasks(with("nul"), []backie.Task{&Email{To: "e"}, &Email{To: "f"}}))
		return *log
	}

	var realLog, recLog []string
	real := backie.NewPgQueue(backietest.Pool(t), reg, backie.QueueConfig{Middleware: middleware(&realLog)})
	rec := backietest.NewRecordingQueue(reg, backietest.RecordingQueueOptions{Middleware: middleware(&recLog)})
	want := scenario(real, &realLog)
	require.Contains(t, want, "error: backie: create task: enqueue middleware panicked: oops")
	require.Equal(t, want, scenario(rec, &recLog))

	_, err := rec.CreateTask(context.WithValue(t.Context(), mwMode{}, "panic"), &Email{})
	require.ErrorIs(t, err, backie.ErrMiddlewarePanicked)
	require.ErrorContains(t, err, "(*RecordingQueue).CreateTask", "with the stack")
	_, err = rec.CreateTasks(context.WithValue(t.Context(), mwMode{}, "nul"), []backie.Task{&Email{}})
	require.ErrorIs(t, err, backie.ErrEncodePayload)

	tasks := rec.Tasks()
	require.Len(t, tasks, 3)
	for _, r := range tasks {
		require.Equal(t, map[string]string{"tenant": "acme"}, r.Metadata)
	}
	require.Len(t, rec.Enqueued(), 4, "the held enqueue counts; refused ones do not")
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
