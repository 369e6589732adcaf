package backie

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// TaskType routes tasks to worker pools: a pool can be limited to some
// types with Config.TaskTypes.
type TaskType string

// TaskHash identifies a unique task. While an unfinished task with the same
// hash exists, enqueueing another inserts nothing and returns the existing
// record. The empty hash means "not unique".
type TaskHash string

// TaskID is a task's id: a UUIDv7, so ids sort by creation time.
type TaskID = uuid.UUID

// Defaults of TaskDefaults.
const (
	// TaskTypeDefault is the type of tasks that do not choose one.
	TaskTypeDefault TaskType = "common"
	// MaxRetriesDefault is how often a failing task is retried by default.
	MaxRetriesDefault = 20
	// TaskTimeoutDefault is how long a task may run by default.
	TaskTimeoutDefault = 2 * time.Minute
	// MaxTaskHashLen is the longest TaskHash accepted, in bytes.
	MaxTaskHashLen = 128
)

// Task is a unit of background work. It is stored as JSON (so its exported
// fields are its payload) and run later by a WorkerPool. Embed TaskDefaults
// to get every method but Run.
type Task interface {
	// Run does the work. ctx is cancelled when the task's timeout expires
	// or when the pool is hard-stopped; the running task's record is
	// available with RecordFromContext. q lets Run enqueue follow-up tasks.
	// Returning an error (or panicking) fails the attempt, which is retried
	// up to MaxRetries times.
	Run(ctx context.Context, q Queue) error
	// TaskType is the routing key. TaskDefaults returns TaskTypeDefault.
	TaskType() TaskType
	// Uniq returns the task's hash when the task is unique, or "" when it is
	// not. TaskDefaults returns "". See HashOf.
	Uniq() TaskHash
	// MaxRetries is how many times a failed attempt is retried; 0 means
	// never. TaskDefaults returns MaxRetriesDefault.
	MaxRetries() int
	// Backoff is the wait before the next attempt, given the number of
	// retries already made (0 after the first failure). TaskDefaults
	// returns 2^retries seconds.
	Backoff(retries int) time.Duration
	// Timeout is how long one attempt may run. TaskDefaults returns
	// TaskTimeoutDefault. A pool can override it with Config.TaskTimeout.
	Timeout() time.Duration
}

// TaskDefaults gives a task type the default TaskType, Uniq, MaxRetries,
// Backoff and Timeout. Embed it and write Run; override what you need.
type TaskDefaults struct{}

// TaskType returns TaskTypeDefault.
func (TaskDefaults) TaskType() TaskType { return TaskTypeDefault }

// Uniq returns "": the task is not unique.
func (TaskDefaults) Uniq() TaskHash { return "" }

// MaxRetries returns MaxRetriesDefault.
func (TaskDefaults) MaxRetries() int { return MaxRetriesDefault }

// Backoff returns 2^retries seconds, capped at 2^30 seconds.
func (TaskDefaults) Backoff(retries int) time.Duration { return ExponentialBackoff(retries) }

// Timeout returns TaskTimeoutDefault.
func (TaskDefaults) Timeout() time.Duration { return TaskTimeoutDefault }

// ExponentialBackoff returns 2^retries seconds, capped at 2^30 seconds.
func ExponentialBackoff(retries int) time.Duration {
	retries = min(max(retries, 0), 30)
	return time.Duration(1<<retries) * time.Second
}

// HashOf returns a TaskHash for v: the hex SHA-256 of its JSON encoding.
// Tasks usually return HashOf(t) (or HashOf of some of their fields) from
// Uniq. It returns "" if v cannot be encoded.
func HashOf(v any) TaskHash {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return TaskHash(hex.EncodeToString(sum[:]))
}

// TaskState is a task's state, derived from its columns.
type TaskState string

// Task states. See TaskRecord.State.
const (
	StateReady     TaskState = "ready"
	StateScheduled TaskState = "scheduled"
	StateRunning   TaskState = "running"
	StateDone      TaskState = "done"
	StateFailed    TaskState = "failed"
)

// ErrorInfo is the error stored with a failed attempt, as JSON in
// error_info.
type ErrorInfo struct {
	// Message is the error's text.
	Message string `json:"message"`
	// Kind is "error", "panic", "timeout", "decode" or "abandoned".
	Kind string `json:"kind,omitempty"`
	// Stack is the goroutine stack of a panic.
	Stack string `json:"stack,omitempty"`
	// Attempt is the retries count of the attempt that failed.
	Attempt int `json:"attempt"`
	// At is when the attempt failed.
	At time.Time `json:"at"`
}

// TaskRecord is a task as stored in backie_tasks.
type TaskRecord struct {
	ID       TaskID
	Name     string
	Type     TaskType
	UniqHash TaskHash
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
	// Error is the last failure; nil for a task that never failed or that
	// succeeded.
	Error *ErrorInfo
	// Retries is how many failed attempts were retried.
	Retries    int
	MaxRetries int
	// Attempt counts how often the task was claimed by a worker.
	Attempt int
}

// State derives the task's state from its columns at the current time.
func (r *TaskRecord) State() TaskState { return r.StateAt(time.Now()) }

// StateAt derives the task's state from its columns at time now.
func (r *TaskRecord) StateAt(now time.Time) TaskState {
	switch {
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
