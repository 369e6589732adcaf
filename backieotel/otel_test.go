package backieotel_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backieotel"
	"github.com/backie-go/backie/internal/dbtest"
)

const (
	runSpan     = "backie.run ot_task"
	enqueueSpan = "backie.enqueue ot_task"
)

// TestPoolTracesAndMetrics: tasks enqueued inside a request's span run on
// a real worker pool; each attempt's span is the root of its own trace,
// linked to its enqueue's span, with the task's attributes and the
// attempt's outcome; failures and panics are recorded; the counters and
// histograms count what happened.
func TestPoolTracesAndMetrics(t *testing.T) {
	t.Parallel()
	env := newEnv(t, dbtest.Pool(t, dbtest.Options{MaxConns: 8}), backieotel.Config{})
	env.running = make(chan backie.TaskID, 16)
	ctx, request := env.tp.Tracer("test").Start(context.Background(), "request")
	create := func(task *otTask) *backie.TaskRecord {
		rec, err := env.q.CreateTask(ctx, task)
		require.NoError(t, err)
		return rec
	}
	ok := create(&otTask{})
	failing := create(&otTask{Mode: "fail", Fails: 1, Retries: 3})
	panicking := create(&otTask{Mode: "panic"})
	unique := create(&otTask{Key: "u"})
	again := create(&otTask{Key: "u"})
	blocking := create(&otTask{Mode: "block", Retries: 3})
	request.End()
	require.Equal(t, unique.ID, again.ID, "the unique task was waiting")
	require.NotEmpty(t, ok.Metadata["traceparent"], "the enqueue's trace context is in the task's metadata")
	stored, err := env.q.FindTask(ctx, ok.ID)
	require.NoError(t, err)
	require.Equal(t, ok.Metadata, stored.Metadata, "and in its row")

	// The enqueue spans are children of the request's span.
	enqueues := env.ended(enqueueSpan)
	require.Len(t, enqueues, 6)
	enqueueOf := map[backie.TaskID]sdktrace.ReadOnlySpan{}
	for _, s := range enqueues {
		require.Equal(t, trace.SpanKindProducer, s.SpanKind())
		require.Equal(t, request.SpanContext().SpanID(), s.Parent().SpanID())
		require.Equal(t, "ot_task", attr(s, "backie.task.name").AsString())
		require.Equal(t, "common", attr(s, "backie.task.type").AsString())
		require.Equal(t, int64(1), attr(s, "backie.enqueue.count").AsInt64())
		id := backie.TaskID{}
		require.NoError(t, id.UnmarshalText([]byte(attr(s, "backie.task.id").AsString())))
		if attr(s, "backie.enqueue.result").AsString() == "duplicate" {
			require.Equal(t, unique.ID, id, "a duplicate's span names the waiting task")
			continue
		}
		require.Equal(t, "created", attr(s, "backie.enqueue.result").AsString())
		enqueueOf[id] = s
	}
	require.Len(t, enqueueOf, 5)

	env.startPool(t, 2)
	// The blocking task is cancelled once it runs.
	deadline := time.After(waitFor)
	for running := false; !running; {
		select {
		case id := <-env.running:
			running = id == blocking.ID
		case <-deadline:
			t.Fatal("the blocking task did not start")
		}
	}
	_, err = env.q.CancelTask(ctx, blocking.ID)
	require.NoError(t, err)

	runs := env.waitSpans(t, runSpan, 6)
	for _, s := range runs {
		require.Equal(t, trace.SpanKindConsumer, s.SpanKind())
		require.False(t, s.Parent().IsValid(), "an attempt's span is the root of its trace")
		require.NotEqual(t, request.SpanContext().TraceID(), s.SpanContext().TraceID())
		id := backie.TaskID{}
		require.NoError(t, id.UnmarshalText([]byte(attr(s, "backie.task.id").AsString())))
		require.Len(t, s.Links(), 1)
		require.Equal(t, enqueueOf[id].SpanContext().TraceID(), s.Links()[0].SpanContext.TraceID(),
			"an attempt's span links to its enqueue's trace")
		require.Equal(t, enqueueOf[id].SpanContext().SpanID(), s.Links()[0].SpanContext.SpanID())
		require.Equal(t, "ot_task", attr(s, "backie.task.name").AsString())
		require.Equal(t, "common", attr(s, "backie.task.type").AsString())
		require.Equal(t, "backie", attr(s, "messaging.system").AsString())
		require.Equal(t, int64(backie.PriorityDefault), attr(s, "backie.task.priority").AsInt64())
	}
	outcome := func(s sdktrace.ReadOnlySpan) string { return attr(s, "backie.task.outcome").AsString() }

	s := byAttempt(t, runs, ok.ID, 1)
	require.Equal(t, "done", outcome(s))
	require.Equal(t, codes.Unset, s.Status().Code)
	require.Empty(t, s.Events())

	s = byAttempt(t, runs, failing.ID, 1)
	require.Equal(t, "retry", outcome(s))
	require.Equal(t, int64(0), attr(s, "backie.task.retries").AsInt64())
	require.Equal(t, int64(3), attr(s, "backie.task.max_retries").AsInt64())
	require.Equal(t, codes.Error, s.Status().Code)
	require.Equal(t, "fails on attempt 1", s.Status().Description)
	require.Equal(t, "error", attr(s, "error.type").AsString())
	require.Len(t, s.Events(), 1)
	require.Equal(t, "exception", s.Events()[0].Name)
	s = byAttempt(t, runs, failing.ID, 2)
	require.Equal(t, "done", outcome(s))
	require.Equal(t, int64(1), attr(s, "backie.task.retries").AsInt64())

	s = byAttempt(t, runs, panicking.ID, 1)
	require.Equal(t, "failed", outcome(s), "no retries left")
	require.Equal(t, "panic", attr(s, "error.type").AsString())
	require.Equal(t, codes.Error, s.Status().Code)
	require.Contains(t, s.Status().Description, "boom in otPanic")
	require.Len(t, s.Events(), 1)
	var stack string
	for _, kv := range s.Events()[0].Attributes {
		if kv.Key == "exception.stacktrace" {
			stack = kv.Value.AsString()
		}
	}
	require.Contains(t, stack, "otPanic", "the span has the panic's stack")

	require.Equal(t, "done", outcome(byAttempt(t, runs, unique.ID, 1)))
	s = byAttempt(t, runs, blocking.ID, 1)
	require.Equal(t, "cancelled", outcome(s))
	require.Equal(t, codes.Unset, s.Status().Code)

	// The pool recorded the panic as the middleware saw it, with the stack
	// of the first panic: the middleware's recover and panic again lose
	// nothing.
	require.Eventually(t, func() bool {
		rec, err := env.q.FindTask(ctx, panicking.ID)
		return err == nil && rec.State() == backie.StateFailed
	}, waitFor, 10*time.Millisecond)
	rec, err := env.q.FindTask(ctx, panicking.ID)
	require.NoError(t, err)
	require.Equal(t, backie.ErrorKindPanic, rec.Error.Kind)
	require.Contains(t, rec.Error.Stack, "otPanic")
	require.Contains(t, rec.Error.Message, "boom in otPanic")

	ms := env.collect(t)
	name := []string{"backie.task.name", "ot_task", "backie.task.type", "common"}
	with := func(kv ...string) []string { return append(slices.Clone(name), kv...) }
	require.Equal(t, int64(5), sum(t, ms, "backie.tasks.enqueued", attrs(with("backie.enqueue.result", "created")...)))
	require.Equal(t, int64(1), sum(t, ms, "backie.tasks.enqueued", attrs(with("backie.enqueue.result", "duplicate")...)))
	require.Equal(t, int64(6), sum(t, ms, "backie.tasks.started", attrs(name...)))
	for outcome, n := range map[string]int64{"done": 3, "retry": 1, "failed": 1, "cancelled": 1} {
		set := attrs(with("backie.task.outcome", outcome)...)
		require.Equal(t, n, sum(t, ms, "backie.tasks.finished", set), outcome)
		require.Equal(t, uint64(n), histCount(t, ms, "backie.task.duration", set), outcome)
	}
	require.Equal(t, uint64(6), histCount(t, ms, "backie.task.pickup_delay", attrs(name...)))
}

// TestBatchEnqueue: one span per CreateTasks, its trace context in each
// task's own Metadata; the counter counts each task, by type and result.
func TestBatchEnqueue(t *testing.T) {
	t.Parallel()
	env := newEnv(t, dbtest.Pool(t, dbtest.Options{MaxConns: 4}), backieotel.Config{})
	ctx := context.Background()
	recs, err := env.q.CreateTasks(ctx, []backie.Task{&otTask{}, &otTask{Key: "b"}, &otTask{Type: "other"}})
	require.NoError(t, err)
	span := env.ended("backie.enqueue")[0]
	require.Equal(t, int64(3), attr(span, "backie.enqueue.count").AsInt64())
	require.Equal(t, attribute.INVALID, attr(span, "backie.task.name").Type(), "several types: no name and type")
	traceparent := recs[0].Metadata["traceparent"]
	require.Contains(t, traceparent, span.SpanContext().SpanID().String())
	for _, rec := range recs {
		require.Equal(t, traceparent, rec.Metadata["traceparent"])
	}
	recs[0].Metadata["mine"] = "x"
	require.NotContains(t, recs[1].Metadata, "mine", "each task has its own map")

	// One name and type: the span is named for them; the waiting unique
	// task is a duplicate.
	_, err = env.q.CreateTasks(ctx, []backie.Task{&otTask{}, &otTask{Key: "b"}})
	require.NoError(t, err)
	span = env.ended(enqueueSpan)[0]
	require.Equal(t, int64(1), attr(span, "backie.enqueue.duplicates").AsInt64())

	ms := env.collect(t)
	common := []string{"backie.task.name", "ot_task", "backie.task.type", "common", "backie.enqueue.result"}
	other := []string{"backie.task.name", "ot_task", "backie.task.type", "other", "backie.enqueue.result"}
	require.Equal(t, int64(3), sum(t, ms, "backie.tasks.enqueued", attrs(append(common, "created")...)))
	require.Equal(t, int64(1), sum(t, ms, "backie.tasks.enqueued", attrs(append(common, "duplicate")...)))
	require.Equal(t, int64(1), sum(t, ms, "backie.tasks.enqueued", attrs(append(other, "created")...)))
}

// TestChildOfEnqueue: with ChildOfEnqueue, an attempt's span is a child of
// its enqueue's span, in the request's trace; the enqueue of a follow-up
// task from Run is a child of the attempt's span.
func TestChildOfEnqueue(t *testing.T) {
	t.Parallel()
	env := newEnv(t, dbtest.Pool(t, dbtest.Options{MaxConns: 4}), backieotel.Config{ChildOfEnqueue: true})
	ctx, request := env.tp.Tracer("test").Start(context.Background(), "request")
	_, err := env.q.CreateTask(ctx, &otTask{Mode: "follow-up"})
	require.NoError(t, err)
	request.End()
	enqueue := env.ended(enqueueSpan)[0]

	opts := backie.RunNextOptions{AttemptOptions: backie.AttemptOptions{
		Middleware: []backie.RunMiddleware{env.inst.RunMiddleware()}}}
	got, res, err := env.q.RunNext(context.Background(), opts)
	require.NoError(t, err)
	require.NotNil(t, got)
	require.Equal(t, backie.OutcomeDone, res.Outcome)
	run := env.ended(runSpan)[0]
	require.Equal(t, request.SpanContext().TraceID(), run.SpanContext().TraceID(), "one trace")
	require.Equal(t, enqueue.SpanContext().SpanID(), run.Parent().SpanID())
	require.Empty(t, run.Links())
	enqueues := env.ended(enqueueSpan)
	require.Len(t, enqueues, 2)
	require.Equal(t, run.SpanContext().SpanID(), enqueues[1].Parent().SpanID(),
		"the follow-up's enqueue is a child of the attempt's span")
}

// TestOutcomes: the outcome on the span is the one the library gives the
// same attempt (RunAttempt), for every way an attempt can end that a
// middleware can see.
func TestOutcomes(t *testing.T) {
	t.Parallel()
	env := newEnv(t, dbtest.Pool(t, dbtest.Options{MaxConns: 4}), backieotel.Config{})
	env.running = make(chan backie.TaskID, 1)
	cases := []struct {
		name     string
		task     otTask
		hardStop bool
		want     backie.Outcome
	}{
		{"success", otTask{}, false, backie.OutcomeDone},
		{"error with retries left", otTask{Mode: "fail", Fails: 1, Retries: 1}, false, backie.OutcomeRetry},
		{"error without", otTask{Mode: "fail", Fails: 1}, false, backie.OutcomeFailed},
		{"permanent", otTask{Mode: "permanent", Retries: 5}, false, backie.OutcomeFailed},
		{"snooze", otTask{Mode: "snooze"}, false, backie.OutcomeSnoozed},
		{"panic with retries left", otTask{Mode: "panic", Retries: 1}, false, backie.OutcomeRetry},
		{"timeout", otTask{Mode: "block", TimeoutMS: 20, Retries: 1}, false, backie.OutcomeRetry},
		{"timeout, Run returns nil", otTask{Mode: "block-nil", TimeoutMS: 20}, false, backie.OutcomeFailed},
		{"hard stop", otTask{Mode: "block", Retries: 1}, true, backie.OutcomeReleased},
	}
	for _, c := range cases {
		task := c.task
		rec, err := env.q.CreateTask(context.Background(), &task)
		require.NoError(t, err)
		ctx, stop := context.WithCancelCause(context.Background())
		stopped := make(chan struct{})
		go func() { // the hard stop comes once the task runs
			defer close(stopped)
			<-env.running
			if c.hardStop {
				stop(errors.New("hard stop"))
			}
		}()
		res := backie.RunAttempt(ctx, env.reg, env.q, rec,
			backie.AttemptOptions{Middleware: []backie.RunMiddleware{env.inst.RunMiddleware()}})
		<-stopped
		stop(nil)
		require.Equal(t, c.want, res.Outcome, "%s: the library's outcome", c.name)
		spans := env.ended(runSpan)
		span := spans[len(spans)-1]
		require.Equal(t, string(res.Outcome), attr(span, "backie.task.outcome").AsString(), c.name)
		if res.Error != nil {
			require.Equal(t, string(res.Error.Kind), attr(span, "error.type").AsString(), c.name)
			require.Equal(t, codes.Error, span.Status().Code, c.name)
		} else {
			require.Equal(t, codes.Unset, span.Status().Code, c.name)
		}
	}
}

// TestQueueGauges: the gauges report a real queue's counts by type and
// state, every state of a type included, and its lag; unregistering stops
// them.
func TestQueueGauges(t *testing.T) {
	t.Parallel()
	env := newEnv(t, dbtest.Pool(t, dbtest.Options{MaxConns: 4}), backieotel.Config{})
	ctx := context.Background()
	for range 3 {
		_, err := env.q.CreateTask(ctx, &otTask{}, backie.RunAfter(time.Hour))
		require.NoError(t, err)
	}
	_, err := env.q.CreateTask(ctx, &otTask{}, backie.RunAt(time.Now().Add(-time.Minute)))
	require.NoError(t, err)
	unregister, err := env.inst.ObserveQueue(env.q)
	require.NoError(t, err)

	ms := env.collect(t)
	depth := gauge[int64](t, ms, "backie.queue.depth")
	require.Len(t, depth, len(backie.AllStates), "every state of the type")
	for _, state := range backie.AllStates {
		want := map[backie.TaskState]int64{backie.StateScheduled: 3, backie.StateReady: 1}[state]
		require.Equal(t, want, depth[distinct("backie.task.type", "common", "backie.task.state", string(state))], state)
	}
	lag := gauge[float64](t, ms, "backie.queue.lag")
	require.InDelta(t, 60, lag[distinct("backie.task.type", "common")], 30, "the ready task has been due a minute")

	require.NoError(t, unregister())
	ms = env.collect(t)
	require.Empty(t, gauge[int64](t, ms, "backie.queue.depth"))
}

func TestConfig(t *testing.T) {
	t.Parallel()
	_, err := backieotel.New(backieotel.Config{QueueStatsMaxAge: -time.Second})
	require.ErrorIs(t, err, backie.ErrInvalidConfig)
	inst, err := backieotel.New(backieotel.Config{})
	require.NoError(t, err, "the zero Config uses the global providers")
	_, err = inst.ObserveQueue(nil)
	require.ErrorIs(t, err, backie.ErrInvalidConfig)
}
