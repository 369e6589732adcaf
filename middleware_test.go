package backie_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

type mwKey struct{}

// TestMiddleware: enqueue middleware, in order, sees the records before
// they are stored and sets their metadata; run middleware, in order, sees
// the task and its record with that metadata, and changes the task's
// context; a middleware that panics fails the attempt like a panicking
// task, and an enqueue whose middleware panics stores nothing.
func TestMiddleware(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 6})
	var (
		mu    sync.Mutex
		trace []string
	)
	note := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		trace = append(trace, s)
	}
	seen := make(chan string, 4)
	reg := backie.NewRegistry()
	require.NoError(t, wpRegister(reg, func(ctx context.Context, _ backie.Queue, task *wpTask) error {
		rec, _ := backie.RecordFromContext(ctx)
		seen <- ctx.Value(mwKey{}).(string) + "|" + rec.Metadata["tenant"]
		if task.N == 2 {
			return errors.New("task fails")
		}
		return nil
	}))
	enqueue := func(name string) backie.EnqueueMiddleware {
		return func(ctx context.Context, recs []*backie.TaskRecord, next func(context.Context) error) error {
			note("enqueue " + name + " before")
			for _, r := range recs {
				require.False(t, r.ID == [16]byte{}, "the record has its id")
				if r.Metadata == nil {
					r.Metadata = map[string]string{}
				}
				r.Metadata["tenant"] += name
			}
			err := next(ctx)
			note("enqueue " + name + " after")
			for _, r := range recs {
				require.False(t, r.CreatedAt.IsZero(), "the record is stored")
			}
			return err
		}
	}
	q := backie.NewPgQueue(db, reg, backie.QueueConfig{Middleware: []backie.EnqueueMiddleware{enqueue("a"), enqueue("b")}})
	ctx := context.Background()
	rec, err := q.CreateTask(ctx, &wpTask{N: 1})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"tenant": "ab"}, rec.Metadata)
	require.Equal(t, []string{"enqueue a before", "enqueue b before", "enqueue b after", "enqueue a after"}, trace)
	stored, err := q.FindTask(ctx, rec.ID)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"tenant": "ab"}, stored.Metadata, "metadata is stored with the task")

	run := func(name string) backie.RunMiddleware {
		return func(ctx context.Context, task backie.Task, rec *backie.TaskRecord, next func(context.Context) error) error {
			note("run " + name + " " + rec.Name)
			v, _ := ctx.Value(mwKey{}).(string)
			err := next(context.WithValue(ctx, mwKey{}, v+name))
			if err != nil && name == "outer" {
				note("run outer saw " + err.Error())
			}
			return err
		}
	}
	mu.Lock()
	trace = nil
	mu.Unlock()
	wpStart(t, q, backie.Config{Workers: 1, Retention: backie.KeepAll,
		Middleware: []backie.RunMiddleware{run("outer"), run("inner")}})
	require.Equal(t, "outerinner|ab", wpRecv(t, seen, "the task"))
	_, err = q.CreateTask(ctx, &wpTask{N: 2})
	require.NoError(t, err)
	require.Equal(t, "outerinner|ab", wpRecv(t, seen, "the failing task"))
	// The outer middleware sees the attempt's error after the task ran.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(trace, "run outer saw task fails")
	}, wpWait, 5*time.Millisecond, "a middleware did not see the attempt's error")

	// Panics.
	panicky := backie.NewPgQueue(db, reg, backie.QueueConfig{Middleware: []backie.EnqueueMiddleware{
		func(context.Context, []*backie.TaskRecord, func(context.Context) error) error { panic("enqueue boom") }}})
	before := wpCount(t, db, `SELECT count(*) FROM backie_tasks`)
	_, err = panicky.CreateTask(ctx, &wpTask{N: 3})
	require.ErrorIs(t, err, backie.ErrMiddlewarePanicked)
	require.ErrorContains(t, err, "enqueue boom")
	require.Equal(t, before, wpCount(t, db, `SELECT count(*) FROM backie_tasks`), "nothing stored")

	db2 := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	env := wpNewEnv(t, db2, func(context.Context, backie.Queue, *wpTask) error { return nil })
	failing := env.create(t, env.task(1))[0]
	wpStart(t, env.q, backie.Config{Workers: 1, Middleware: []backie.RunMiddleware{
		func(context.Context, backie.Task, *backie.TaskRecord, func(context.Context) error) error {
			panic("run boom")
		}}})
	got := env.eventually(t, failing.ID, wpFinished, "the task did not fail")
	require.Equal(t, backie.ErrorKindPanic, got.Error.Kind)
	require.Contains(t, got.Error.Message, "run boom")
	require.NotEmpty(t, got.Error.Stack)

	// Metadata with a NUL cannot be stored.
	nul := backie.NewPgQueue(db, reg, backie.QueueConfig{Middleware: []backie.EnqueueMiddleware{
		func(ctx context.Context, recs []*backie.TaskRecord, next func(context.Context) error) error {
			recs[0].Metadata = map[string]string{"k": "a\x00"}
			return next(ctx)
		}}})
	_, err = nul.CreateTask(ctx, &wpTask{N: 4})
	require.ErrorIs(t, err, backie.ErrEncodePayload)
}

// TestRunAttemptAndRunNext: RunAttempt runs one attempt as a worker would
// and says how it ended; RunNext claims, runs and records the next task
// due by a clock the test moves.
func TestRunAttemptAndRunNext(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 4})
	env := wpNewEnv(t, db, func(ctx context.Context, _ backie.Queue, task *wpTask) error {
		switch task.N {
		case 1:
			return errors.New("boom")
		case 2:
			panic("oops")
		case 3:
			return backie.Snooze(time.Minute)
		case 4:
			<-ctx.Done()
			return nil
		}
		return nil
	})
	ctx := context.Background()
	for n, want := range map[int]backie.Outcome{0: backie.OutcomeDone, 1: backie.OutcomeRetry, 2: backie.OutcomeRetry,
		3: backie.OutcomeSnoozed, 4: backie.OutcomeRetry} {
		task := env.task(n)
		task.Retries, task.TimeoutMS = 1, 50
		rec := env.create(t, task)[0]
		res := backie.RunAttempt(ctx, env.reg, env.q, rec, backie.AttemptOptions{})
		require.Equal(t, want, res.Outcome, "task %d", n)
		switch n {
		case 2:
			require.ErrorIs(t, res.Err, backie.ErrTaskPanicked)
			require.Equal(t, backie.ErrorKindPanic, res.Error.Kind)
		case 3:
			require.Equal(t, time.Minute, res.Delay)
		case 4:
			require.Equal(t, backie.ErrorKindTimeout, res.Error.Kind)
		}
		require.Equal(t, backie.StateReady, env.find(t, rec.ID).State(), "RunAttempt changes no table")
	}
	_, err := db.Exec(ctx, `DELETE FROM backie_tasks`)
	require.NoError(t, err)

	// RunNext with a clock: a task due in an hour runs when the clock says
	// so; a failure is retried after its backoff by the clock.
	later := env.task(1)
	later.Retries, later.BackoffMS = 1, 60_000
	rec, err := env.q.CreateTask(ctx, later, backie.RunAfter(time.Hour))
	require.NoError(t, err)
	got, res, err := env.q.RunNext(ctx, backie.RunNextOptions{})
	require.NoError(t, err)
	require.Nil(t, got, "nothing is due now")
	require.Nil(t, res)
	clock := time.Now().Add(time.Hour + time.Second)
	got, res, err = env.q.RunNext(ctx, backie.RunNextOptions{Now: clock})
	require.NoError(t, err)
	require.Equal(t, rec.ID, got.ID)
	require.Equal(t, backie.OutcomeRetry, res.Outcome)
	require.Equal(t, time.Minute, res.Delay)
	stored := env.find(t, rec.ID)
	require.Equal(t, 1, stored.Retries, "recorded as a pool would")
	got, _, err = env.q.RunNext(ctx, backie.RunNextOptions{Now: clock.Add(59 * time.Second)})
	require.NoError(t, err)
	require.Nil(t, got, "the retry waits a minute after the clock")
	got, res, err = env.q.RunNext(ctx, backie.RunNextOptions{Now: clock.Add(61 * time.Second),
		AttemptOptions: backie.AttemptOptions{Retention: backie.KeepAll}})
	require.NoError(t, err)
	require.NotNil(t, got)
	require.Equal(t, backie.OutcomeFailed, res.Outcome)
	require.Equal(t, backie.StateFailed, env.find(t, rec.ID).State())
}
