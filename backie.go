// Package backie runs background tasks stored in PostgreSQL.
//
// Backie is a Go port of the Rust crate backie (a fork of fang). Tasks are
// Go values stored as JSON in one table, backie_tasks, and run by worker
// pools that claim them with SELECT … FOR UPDATE SKIP LOCKED, so many
// pools in many processes share the table safely. It works on the caller's
// pgx v5 pool (*pgxpool.Pool), which it never creates or closes.
//
// # Tasks
//
// A task is a type that implements [Task]. Embed [TaskDefaults] and write
// Run; the exported fields are the payload, and unexported fields hold the
// task's dependencies, filled in by the constructor it is registered with:
//
//	type SendEmail struct {
//		backie.TaskDefaults
//		To     string `json:"to"`
//		mailer *Mailer // not stored: set by the constructor
//	}
//
//	func (t *SendEmail) Run(ctx context.Context, q backie.Queue) error {
//		rec, _ := backie.RecordFromContext(ctx) // id, retries, created_at...
//		return t.mailer.Send(ctx, t.To, rec.ID)
//	}
//
// Run gets the [Queue], to enqueue follow-up tasks, and a context that is
// cancelled when the task's timeout expires or when the pool is hard
// stopped. [RecordFromContext] returns the running task's [TaskRecord].
// Override TaskType, Uniq, MaxRetries, Backoff or Timeout to change their
// defaults: [TaskTypeDefault], not unique, [MaxRetriesDefault] (20),
// [JitteredBackoff] (about 2^retries seconds) and [TaskTimeoutDefault]
// (2 minutes). Run may return [Permanent](err) to fail for good at once, or
// [Snooze](d) to run again after d without using a retry.
//
// # Registering
//
// A [Registry] maps names to Go types. The name is stored with each task
// and is what must stay stable across deploys. [RegisterFunc] registers a
// constructor, whose value the stored JSON then fills, so that tasks can
// hold a database handle, a mail client or a logger; [Register] registers a
// type that needs nothing:
//
//	reg := backie.NewRegistry()
//	err := backie.RegisterFunc(reg, "send_email", func() *SendEmail { return &SendEmail{mailer: m} })
//	err = backie.Register[*Cleanup](reg, "cleanup")
//
// Registering a name or a Go type twice returns an error wrapping
// [ErrTaskAlreadyRegistered]. Enqueueing a Go type that is not registered
// returns an error wrapping [ErrTaskNotRegistered]. A pool only claims the
// names registered in its queue's registry.
//
// # Enqueueing
//
// [NewPgQueue] combines the caller's pool and the registry into a [PgQueue]:
//
//	queue := backie.NewPgQueue(db, reg)
//	rec, err := queue.CreateTask(ctx, &SendEmail{To: "a@b.c"})
//
// [PgQueue.CreateTasks] stores many tasks in one round trip. The …Tx twins
// ([PgQueue.CreateTaskTx], [PgQueue.CreateTasksTx], …) run in the caller's
// pgx.Tx, so a task commits or rolls back with the caller's own writes.
// [RunAt] and [RunAfter] delay a task. A new task wakes idle pools through
// LISTEN/NOTIFY, at once when it is due and at its scheduled time when it
// is not; a pool that polls ([Config].DisableNotifications) also wakes when
// the next task it found is due.
//
// # Running workers
//
// A [WorkerPool] runs tasks on [Config].Workers goroutines. The zero
// [Config] is valid; [NewWorkerPool] fills in the defaults and returns an
// error wrapping [ErrInvalidConfig] for a configuration that cannot work:
//
//	pool, err := backie.NewWorkerPool(queue, backie.Config{Workers: 50})
//	err = pool.Start(ctx) // returns once the workers are started
//
// Tasks are claimed oldest scheduled_at first. [Config].TaskTypes limits a
// pool to some task types. A panic in Run fails that attempt only; a
// database error or a lost connection is logged and retried with backoff;
// the pool keeps its concurrency. Workers share a few connections of the
// caller's pool to claim and finish tasks in batches, and the pool takes
// one connection out of it (no longer counted in MaxConns) to LISTEN for
// new tasks (see [Config].DisableNotifications).
//
// Due tasks are claimed by priority, [PriorityUrgent] first (a task's
// Priority, or [WithPriority]), then oldest scheduled_at first.
//
// # Periodic tasks
//
// [Config].Periodic lists tasks a pool enqueues on a cron schedule
// ([PeriodicTask]); each tick is enqueued once, however many pools in
// however many processes list it.
//
// # Controlling tasks
//
// [PgQueue.CancelTask] cancels a waiting task at once and a running one in
// whatever pool runs it; [PgQueue.RetryTask] makes a failed, cancelled or
// scheduled task Ready now; [PgQueue.RescheduleTask] moves a waiting one;
// [PgQueue.PauseType] and [PgQueue.ResumeType] stop and restart the claims
// of a type in every pool. [PgQueue.ListTasks] pages through tasks by
// state, type, name, priority and time; [PgQueue.Stats] counts them.
//
// # Live processes
//
// Every running pool registers itself in the table backie_processes and
// renews its entry every few seconds. One of the live pools, the leader,
// takes back the tasks of pools that stop heartbeating (killed, lost),
// and of tasks past their timeout, deletes old finished tasks, counts the
// tasks for Stats, and reports the task names that have been due for a
// while and that no live pool serves.
//
// # Middleware
//
// [RunMiddleware] ([Config].Middleware) wraps every attempt and
// [EnqueueMiddleware] ([QueueConfig].Middleware) every enqueue; enqueue
// middleware can store [TaskRecord].Metadata with a task (a trace
// context), which its attempts see. The OpenTelemetry support
// (module backieotel) is built on them.
//
// # Shutdown
//
// Cancelling the context given to [WorkerPool.Start] begins a graceful
// stop: the pool claims no more tasks and lets the running ones finish.
// After [Config].ShutdownGrace their contexts are cancelled (a hard stop),
// and a task that returns unfinished is released back to Ready without
// using an attempt. [WorkerPool.Wait] (or [WorkerPool.Done]) tells when
// every goroutine of the pool has exited:
//
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	if err := pool.Start(ctx); err != nil { … }
//	<-ctx.Done()
//	pool.Wait()
//
// [WorkerPool.Shutdown] does the same stop bounded by its own context, like
// net/http's Server.Shutdown, and may be called more than once. A Run that
// ignores its context delays the end of the stop.
//
// # Retries and timeouts
//
// An attempt fails when Run returns an error, panics (the panic value and
// stack are kept, see [ErrTaskPanicked]) or overruns its timeout
// ([ErrTaskTimeout], whatever Run returns once its timeout has fired).
// While retries < MaxRetries the task is retried: the error is stored in
// error_info ([ErrorInfo]), the task is scheduled Backoff(retries) later
// (retries counts the earlier retries: 0, 1, 2…, so about 1s, 2s, 4s… by
// default) and retries is incremented. Otherwise the task is Failed;
// MaxRetries 0 means it is never retried. An error wrapped with
// [Permanent], and a payload that no longer decodes, fail the task at
// once. A task that succeeds on a retry has its error_info cleared.
//
// The timeout of an attempt is the task's Timeout, or [Config].TaskTimeout
// when a pool sets it. A task left Running by a pool that died (process
// killed, machine lost) is taken back once the pool's heartbeat is older
// than its [Config].HeartbeatTimeout, and a task Running longer than its
// timeout plus [Config].RescueMargin is taken back too; either counts as a
// failed attempt.
//
// # Unique tasks
//
// A task whose Uniq returns a non-empty [TaskHash] (often [HashOf] the
// task) is unique: while an unfinished task with the same name and hash
// exists, CreateTask inserts nothing and returns the existing record. A
// unique index and INSERT … ON CONFLICT make this race-free across
// processes. Once the task is Done or Failed, the hash is free again.
//
// # Retention
//
// [Config].Retention says which finished tasks stay in the table:
// [RemoveFinished] (the default) deletes tasks that succeed and keeps
// failed ones, [KeepAll] keeps both, [RemoveAll] deletes both. A task's
// state is derived from its columns ([TaskRecord.State]).
//
// # Migrations
//
// The schema is a set of golang-migrate SQL files (package migrations).
// [Migrate] applies them from Go on the caller's pool, under an advisory
// lock, so every process may call it at start-up:
//
//	err := backie.Migrate(ctx, db, backie.MigrateConfig{})
//
// The tables go to the schema of the pool's search_path, or to
// [MigrateConfig].Schema. golang-migrate's version table is
// [MigrationsTableDefault] (backie_schema_migrations), so it does not
// collide with the application's own. The same files work with the
// migrate CLI (see the README).
//
// # Errors
//
// Errors wrap sentinels to test with errors.Is: [ErrNilTask],
// [ErrTaskNotRegistered], [ErrTaskAlreadyRegistered], [ErrInvalidTaskName],
// [ErrInvalidTaskType], [ErrInvalidTask], [ErrEncodePayload],
// [ErrInvalidUniqHash], [ErrMissingTable] (migrations not run),
// [ErrMissingSchema], [ErrPoolClosed] (the pgx pool is closed),
// [ErrInvalidConfig], [ErrNotFound], [ErrPoolStarted] and [ErrPoolStopped].
// A cancelled context's error (context.Canceled, context.DeadlineExceeded)
// is wrapped too. A call that fails with one of them leaves the table
// unchanged. Every message starts with "backie: " once, at its outermost
// wrap. [ErrDecodePayload], [ErrTaskTimeout] and [ErrTaskPanicked] describe
// failed attempts, stored in error_info.
//
// # Guarantees
//
// Delivery is at least once: a task is never handed to two workers at once,
// but it may run again after its worker was lost, or after it overran its
// timeout while its Run ignored the context, so Run should be idempotent.
// Every write that finishes a task is guarded by the attempt that claimed
// it, so a task taken back from a lost worker is never finished twice.
// Nothing stays Running forever: unfinished tasks are released on shutdown,
// taken back once their pool stops heartbeating, or after their timeout
// plus the rescue margin.
package backie

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/google/uuid"
)

// TaskID is a task's id: a UUIDv7, so ids sort by creation time.
type TaskID = uuid.UUID

// TaskType routes tasks to worker pools: a pool can be limited to some
// types with Config.TaskTypes. It is at most MaxTaskTypeLen bytes of UTF-8
// without NUL; the empty type means TaskTypeDefault.
type TaskType string

// TaskHash identifies a unique task among the tasks of its name. While an
// unfinished task with the same name and hash exists, enqueueing another
// inserts nothing and returns the existing record. The empty hash means
// "not unique".
type TaskHash string

// Limits of what is stored with a task. Longer names, types and hashes are
// refused where they enter (Register, CreateTask) with ErrInvalidTaskName,
// ErrInvalidTaskType and ErrInvalidUniqHash.
const (
	// MaxTaskNameLen is the longest registered task name, in bytes.
	MaxTaskNameLen = 255
	// MaxTaskTypeLen is the longest task type, in bytes.
	MaxTaskTypeLen = 255
	// MaxTaskHashLen is the longest TaskHash, in bytes.
	MaxTaskHashLen = 128
)

// TaskState is a task's state, derived from its columns.
type TaskState string

// Task states. See TaskRecord.State.
const (
	StateReady     TaskState = "ready"
	StateScheduled TaskState = "scheduled"
	StateRunning   TaskState = "running"
	StateDone      TaskState = "done"
	StateFailed    TaskState = "failed"
	StateCancelled TaskState = "cancelled"
)

// AllStates lists the task states, waiting to finished.
var AllStates = []TaskState{StateReady, StateScheduled, StateRunning, StateDone, StateFailed, StateCancelled}

// valid reports whether s is one of AllStates.
func (s TaskState) valid() bool { return slices.Contains(AllStates, s) }

// finished reports whether s is a state a task does not leave by itself.
func (s TaskState) finished() bool { return s == StateDone || s == StateFailed || s == StateCancelled }

// ErrorKind says how a failed attempt failed. It is stored in error_info.
type ErrorKind string

// Error kinds.
const (
	// ErrorKindError: Run returned an error.
	ErrorKindError ErrorKind = "error"
	// ErrorKindPanic: Run panicked; ErrorInfo.Stack holds the stack.
	ErrorKindPanic ErrorKind = "panic"
	// ErrorKindTimeout: the attempt overran its timeout (ErrTaskTimeout).
	ErrorKindTimeout ErrorKind = "timeout"
	// ErrorKindDecode: the stored payload no longer decodes into the
	// registered type (ErrDecodePayload), or its name is not registered.
	// The task fails at once, without retries.
	ErrorKindDecode ErrorKind = "decode"
	// ErrorKindAbandoned: the task was left Running by a worker that was
	// lost, and was taken back (ErrTaskTimeout).
	ErrorKindAbandoned ErrorKind = "abandoned"
)

// ErrorInfo is the error stored with a failed attempt, as JSON in
// error_info.
type ErrorInfo struct {
	// Message is the error's text.
	Message string `json:"message"`
	// Kind says how the attempt failed.
	Kind ErrorKind `json:"kind,omitempty"`
	// Permanent is set when the attempt failed the task for good at once:
	// Run returned Permanent(err), or the payload did not decode.
	Permanent bool `json:"permanent,omitempty"`
	// Stack is the goroutine stack of a panic.
	Stack string `json:"stack,omitempty"`
	// Retries is the task's retries count when the attempt failed: 0 for a
	// failure of the first attempt, 1 for a failure of the first retry...
	Retries int `json:"retries"`
	// At is when the attempt failed.
	At time.Time `json:"at"`
}

// UnmarshalJSON decodes an ErrorInfo, including those stored before
// Retries had its name (as "attempt").
func (e *ErrorInfo) UnmarshalJSON(b []byte) error {
	type plain ErrorInfo
	var v struct {
		plain
		Attempt *int `json:"attempt"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = ErrorInfo(v.plain)
	if v.Attempt != nil && e.Retries == 0 {
		e.Retries = *v.Attempt
	}
	return nil
}

// TaskRecord is a task as stored in backie_tasks.
type TaskRecord struct {
	ID       TaskID
	Name     string
	Type     TaskType
	UniqHash TaskHash
	// Priority orders due tasks: PriorityUrgent (1) is claimed first,
	// PriorityLowest (4) last.
	Priority int
	// Payload is the task's JSON encoding.
	Payload json.RawMessage
	Timeout time.Duration
	// CreatedAt is when the task was enqueued.
	CreatedAt time.Time
	// ScheduledAt is when the task is due (first run or next retry).
	ScheduledAt time.Time
	// RunningAt is when the current attempt started; nil unless Running
	// (kept on finished tasks as the last attempt's start).
	RunningAt *time.Time
	// DoneAt is when the task finished; nil until then.
	DoneAt *time.Time
	// CancelledAt is when CancelTask was called: with DoneAt the task is
	// Cancelled; without, it is still Running and its pool cancels it.
	CancelledAt *time.Time
	// Error is the last failure; nil for a task that never failed or that
	// succeeded.
	Error *ErrorInfo
	// Retries is how many failed attempts were retried.
	Retries int
	// MaxRetries is how many failed attempts may be retried.
	MaxRetries int
	// Attempt counts how often a worker claimed the task, this claim
	// included: 1 while the first attempt runs. A claim released by a
	// hard stop counts, but does not use a retry.
	Attempt int
	// ProcessID is the pool (Process.ID) that claimed the task: it holds
	// it while it is Running, and ran its last attempt afterwards.
	ProcessID *uuid.UUID
	// Metadata travels with the task from its enqueue to its attempts:
	// enqueue middleware sets it (a W3C trace context, a tenant id), run
	// middleware reads it. Nil when there is none.
	Metadata map[string]string
}

// State derives the task's state from its columns at the current time.
func (r *TaskRecord) State() TaskState { return r.StateAt(time.Now()) }

// StateAt derives the task's state from its columns at time now.
func (r *TaskRecord) StateAt(now time.Time) TaskState {
	switch {
	case r.DoneAt != nil && r.CancelledAt != nil:
		return StateCancelled
	case r.DoneAt != nil && r.Error != nil:
		return StateFailed
	case r.DoneAt != nil:
		return StateDone
	case r.RunningAt != nil:
		return StateRunning
	case r.ScheduledAt.After(now):
		return StateScheduled
	default:
		return StateReady
	}
}

type recordKey struct{}

// RecordFromContext returns the record of the task running with ctx (its
// id, retries so far, created_at...), or false outside a task's Run.
func RecordFromContext(ctx context.Context) (*TaskRecord, bool) {
	r, ok := ctx.Value(recordKey{}).(*TaskRecord)
	return r, ok
}

func contextWithRecord(ctx context.Context, r *TaskRecord) context.Context {
	return context.WithValue(ctx, recordKey{}, r)
}
