package backieotel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/backie-go/backie"
)

// RunMiddleware returns the middleware to put in backie.Config.Middleware
// (or backie.AttemptOptions.Middleware). Every attempt gets a span
// "backie.run <task name>" of kind consumer. By default the span is the
// root of a trace of its own, with a link to the span of the enqueue whose
// trace context the task's Metadata carries; with Config.ChildOfEnqueue it
// is that span's child. The task's context holds the span, so the spans
// Run makes, and the enqueues of follow-up tasks, are its children; it
// also holds what else the propagator read (baggage).
//
// The span has the task's id, name, type, attempt, retries, max retries
// and priority, and the attempt's outcome (backie.task.outcome), all set
// when the attempt ends, in one call (one allocation, not two: a sampler
// sees the span's name, which holds the task's name). An
// attempt that fails (outcome retry or failed) records its error, with
// the stack for a panic, and sets the span's status to Error. A panic is
// recorded and goes on to the pool, which fails the attempt with
// backie.ErrTaskPanicked.
//
// It counts the attempt in backie.tasks.started and backie.tasks.finished,
// records its duration (backie.task.duration) and its pickup delay
// (backie.task.pickup_delay: from the task's ScheduledAt to its RunningAt,
// both by the database's clock).
//
// The outcome is derived from what the middleware after it and Run
// returned, and from the attempt's context, as the pool decides it (see
// the package documentation for where the two can differ). Put it first
// in Config.Middleware, so that it sees what the pool records.
func (in *Instrumentation) RunMiddleware() backie.RunMiddleware {
	return in.run
}

func (in *Instrumentation) run(ctx context.Context, _ backie.Task, rec *backie.TaskRecord, next func(context.Context) error) (err error) {
	start := time.Now()
	names := in.label(rec.Name, rec.Type, "")
	in.started.Add(ctx, 1, names.opt)
	in.pickup.Record(ctx, pickupDelay(rec, start).Seconds(), names.opt)

	var enqueued trace.SpanContext
	if len(rec.Metadata) > 0 {
		ctx = in.prop.Extract(ctx, propagation.MapCarrier(rec.Metadata))
		if sc := trace.SpanContextFromContext(ctx); sc.IsRemote() {
			enqueued = sc
		}
	}
	opts := rootSpan // a trace of its own, whatever span the pool's context held
	switch {
	case !enqueued.IsValid():
	case in.cfg.ChildOfEnqueue:
		opts = childSpan
	default:
		opts = []trace.SpanStartOption{consumer, newRoot, trace.WithLinks(trace.Link{SpanContext: enqueued})}
	}
	ctx, span := in.tracer.Start(ctx, names.runSpan, opts...)

	defer func() {
		if r := recover(); r != nil {
			in.finish(ctx, span, rec, start, fmt.Errorf("%w: %v", backie.ErrTaskPanicked, r), true)
			panic(r) // the pool fails the attempt, with the stack of the first panic
		}
	}()
	err = next(ctx)
	in.finish(ctx, span, rec, start, err, false)
	return err
}

// finish ends the attempt's span and records its metrics.
func (in *Instrumentation) finish(ctx context.Context, span trace.Span, rec *backie.TaskRecord, start time.Time,
	err error, panicked bool) {
	elapsed := time.Since(start)
	out := attemptOutcome(ctx, rec, err, panicked)
	l := in.label(rec.Name, rec.Type, string(out))
	in.finished.Add(ctx, 1, l.opt)
	in.duration.Record(ctx, elapsed.Seconds(), l.opt)
	if !span.IsRecording() { // not sampled: nothing to describe
		span.End()
		return
	}
	attrs := [...]attribute.KeyValue{
		systemBackie,
		keyMsgOperation.String("process"),
		keyTaskID.String(rec.ID.String()),
		keyTaskName.String(rec.Name),
		keyTaskType.String(string(rec.Type)),
		keyTaskAttempt.Int(rec.Attempt),
		keyTaskRetries.Int(rec.Retries),
		keyTaskMaxRetries.Int(rec.MaxRetries),
		keyTaskPriority.Int(rec.Priority),
		keyTaskOutcome.String(string(out)),
		{},
	}
	n := len(attrs) - 1
	if out == backie.OutcomeRetry || out == backie.OutcomeFailed {
		var kind backie.ErrorKind
		err, kind = attemptError(ctx, err, panicked)
		attrs[n] = keyErrorType.String(string(kind))
		n++
	}
	span.SetAttributes(attrs[:n]...)
	if out == backie.OutcomeRetry || out == backie.OutcomeFailed {
		span.RecordError(err, trace.WithStackTrace(panicked))
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// The start options of an attempt's span: a root, or a child of the
// enqueue's span (ChildOfEnqueue); a root linked to the enqueue's span is
// made for each attempt.
var (
	consumer  = trace.WithSpanKind(trace.SpanKindConsumer)
	newRoot   = trace.WithNewRoot()
	rootSpan  = []trace.SpanStartOption{consumer, newRoot}
	childSpan = []trace.SpanStartOption{consumer}
)

// pickupDelay is how long the task waited from when it was due to when a
// pool claimed it, both by the database's clock (so the hosts' clocks do
// not skew it); for a record without RunningAt (one made by hand for
// backie.RunAttempt), to now.
func pickupDelay(rec *backie.TaskRecord, now time.Time) time.Duration {
	at := now
	if rec.RunningAt != nil {
		at = *rec.RunningAt
	}
	return max(at.Sub(rec.ScheduledAt), 0)
}

// attemptOutcome says what the pool does with an attempt that returned
// err (a panic when panicked) with ctx, the attempt's context: the rules
// of the pool's own decision, seen from a middleware. The context's cause
// tells a timeout (backie.ErrTaskTimeout) and a cancel
// (backie.ErrTaskCancelled); a context ended otherwise is a hard stop of
// the pool. A failure is retried while rec.Retries < rec.MaxRetries and
// the error is not backie.Permanent.
func attemptOutcome(ctx context.Context, rec *backie.TaskRecord, err error, panicked bool) backie.Outcome {
	cause := context.Cause(ctx)
	timedOut := errors.Is(cause, backie.ErrTaskTimeout)
	switch {
	case errors.Is(cause, backie.ErrTaskCancelled):
		return backie.OutcomeCancelled
	case err == nil && !timedOut && !panicked:
		return backie.OutcomeDone
	case isSnooze(err) && !timedOut:
		return backie.OutcomeSnoozed
	case ctx.Err() != nil && !timedOut && !panicked:
		return backie.OutcomeReleased
	case !backie.IsPermanent(err) && rec.Retries < rec.MaxRetries:
		return backie.OutcomeRetry
	default:
		return backie.OutcomeFailed
	}
}

// attemptError returns the error a failed attempt stores, and its kind: a
// timeout whose Run returned nil failed with backie.ErrTaskTimeout.
func attemptError(ctx context.Context, err error, panicked bool) (error, backie.ErrorKind) {
	switch {
	case panicked:
		return err, backie.ErrorKindPanic
	case errors.Is(context.Cause(ctx), backie.ErrTaskTimeout):
		if err == nil {
			err = backie.ErrTaskTimeout
		}
		return err, backie.ErrorKindTimeout
	case err == nil: // not reached: a nil error without a timeout is a success
		return errors.New("attempt failed"), backie.ErrorKindError
	}
	return err, backie.ErrorKindError
}

// isSnooze reports whether err is, or wraps, an error of backie.Snooze.
func isSnooze(err error) bool {
	_, ok := backie.SnoozeDelay(err)
	return ok
}
