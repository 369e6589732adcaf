// Package backieotel traces and measures Backie's tasks with
// OpenTelemetry. It is a module of its own
// (github.com/backie-go/backie/backieotel), so that only the programs that
// import it depend on OpenTelemetry; it needs the OpenTelemetry API, not
// its SDK, which the application chooses and configures.
//
// It is built on the middleware every user gets: an
// [Instrumentation] hands out a backie.EnqueueMiddleware for the queue and
// a backie.RunMiddleware for the pool, and reports the gauges of a queue:
//
//	otelInst, err := backieotel.New(backieotel.Config{}) // the global providers
//	queue := backie.NewPgQueue(db, reg, backie.QueueConfig{
//		Middleware: []backie.EnqueueMiddleware{otelInst.EnqueueMiddleware()},
//	})
//	pool, err := backie.NewWorkerPool(queue, backie.Config{
//		Middleware: []backie.RunMiddleware{otelInst.RunMiddleware()},
//	})
//	unregister, err := otelInst.ObserveQueue(queue)
//
// # Traces
//
// An enqueue makes a span "backie.enqueue <task name>" (kind producer),
// child of the caller's span, and writes its trace context into each
// stored task's Metadata: the task carries it in its row, to every
// attempt, in any process. An attempt makes a span "backie.run <task
// name>" (kind consumer): the root of a trace of its own, with a link to
// the enqueue's span, or, with [Config].ChildOfEnqueue, that span's child.
// Attributes: backie.task.id, backie.task.name, backie.task.type,
// backie.task.attempt, backie.task.retries, backie.task.max_retries,
// backie.task.priority, backie.task.outcome, and error.type (error, panic,
// timeout) on a failure; an enqueue has backie.enqueue.count and, for a
// single task, backie.enqueue.result (created, or duplicate for a unique
// task already waiting).
//
// # Metrics
//
//	backie.tasks.enqueued      counter    {task}  name, type, backie.enqueue.result
//	backie.tasks.started       counter    {task}  name, type
//	backie.tasks.finished      counter    {task}  name, type, backie.task.outcome
//	backie.task.duration       histogram  s       name, type, backie.task.outcome
//	backie.task.pickup_delay   histogram  s       name, type
//	backie.queue.depth         gauge      {task}  type, backie.task.state
//	backie.queue.lag           gauge      s       type
//
// name and type are the attributes backie.task.name and backie.task.type.
// The gauges come from PgQueue.Stats, read at most once per
// [Config].QueueStatsMaxAge: see [Instrumentation.ObserveQueue].
//
// # Outcomes
//
// A run middleware sees what Run (and the middleware after it) returned,
// not what the pool decides; backieotel derives the outcome with the
// pool's rules: nil is done; an error made by backie.Snooze is snoozed; a
// context whose cause is backie.ErrTaskCancelled is cancelled, one whose
// cause is backie.ErrTaskTimeout a failure (even when Run returned nil),
// one ended otherwise (a hard stop) released; a failure is a retry while
// the task's Retries are below its MaxRetries and the error is not
// backie.Permanent, and failed otherwise; a panic is a failure.
//
// It can differ from what the pool records when a middleware before it
// changes the error or the context (put it first); when the timeout fires,
// or a hard stop begins, between the return of Run and the pool's own
// look; and when the pool cannot record the attempt (the task was deleted,
// or taken back from a pool that was thought dead). A payload that no
// longer decodes fails its task before any middleware runs: such attempts
// make no span.
package backieotel
