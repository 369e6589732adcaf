// Package backietest helps the tests of a service that uses Backie: tests
// of the handlers that enqueue tasks, and of the tasks themselves.
//
// # A queue in memory
//
// [RecordingQueue] is a backie.Queue that records what is enqueued, with
// the validation of PgQueue (the same errors for an unregistered type, a
// bad unique hash, a payload JSON cannot encode), its records (RunAt,
// RunAfter and WithPriority applied, at a clock of the test's:
// [RecordingQueueOptions].Now) and its enqueue middleware. Give it to the
// code under test, then look at [RecordingQueue.Enqueued], or assert with
// [RequireEnqueued]:
//
//	queue := backietest.NewRecordingQueue(reg)
//	handler := NewSignupHandler(queue)
//	// ... call the handler ...
//	backietest.RequireEnqueued[*SendEmail](t, queue, backietest.Want{
//		Payload: map[string]any{"to": "ann@example.com"},
//	})
//
// [Drain] runs its due tasks and their follow-ups, without a database.
//
// # Running a task
//
// [RunTask] runs one attempt of a task in the test's goroutine, as a worker
// of a pool would: its record in the context, its timeout, a panic
// contained. It returns a [Result] that says how the attempt ended
// (success, error, timeout, panic, permanent failure, snooze). The task
// enqueues its follow-ups on the queue RunTask is given, a
// *backie.PgQueue or a RecordingQueue. [RunRecord] runs a task that is
// already stored.
//
// # Assertions
//
// [RequireEnqueued] and [RequireNotEnqueued] look for tasks of a Go type,
// narrowed by payload fields, state, priority, scheduled time and count
// ([Want]), in a *backie.PgQueue's table or a RecordingQueue (whose tasks'
// states are judged at its clock); [RequireEnqueuedTx] and
// [RequireNotEnqueuedTx] in a transaction. Their failure messages list
// what was enqueued instead.
//
// # Draining a queue
//
// [Drain] runs every due task of a *backie.PgQueue or a RecordingQueue in
// the test's goroutine, one at a time, in claim order, follow-ups
// included, and records each as a pool would, until none is due; it
// returns what ran. [DrainOptions].Now, or the RecordingQueue's clock, is
// the test's clock, for tasks scheduled for later and retries.
//
// # A database per test
//
// [Pool] gives a test a pool on a new schema with Backie's migrations,
// dropped when the test ends, so tests can run in parallel. The database is
// the one BACKIE_TEST_DATABASE_URL names, or a PostgreSQL container that
// testcontainers starts when it is unset (this needs Docker); [Run], called
// from TestMain, removes the container.
//
// Every helper takes the test's testing.TB, marks itself as a helper, and
// fails the test (Fatalf) when what it checks does not hold or when it
// cannot do its work. The helpers' database work runs with tb.Context().
package backietest
