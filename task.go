package backie

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Defaults of TaskDefaults.
const (
	// TaskTypeDefault is the type of tasks that do not choose one.
	TaskTypeDefault TaskType = "common"
	// MaxRetriesDefault is how often a failing task is retried by default.
	MaxRetriesDefault = 20
	// TaskTimeoutDefault is how long a task may run by default.
	TaskTimeoutDefault = 2 * time.Minute
)

// Priorities. Due tasks are claimed by priority, PriorityUrgent first, then
// oldest scheduled_at first, FIFO among equals. Every task has one of these
// four; TaskDefaults gives PriorityDefault, which leaves one level above it
// for urgent work.
const (
	PriorityUrgent  = 1
	PriorityDefault = 2
	PriorityLow     = 3
	PriorityLowest  = 4
)

// priorityLevels is how many priorities there are.
const priorityLevels = PriorityLowest - PriorityUrgent + 1

// priorities lists the priorities in claim order.
var priorities = []int16{PriorityUrgent, PriorityDefault, PriorityLow, PriorityLowest}

func validPriority(p int) bool { return p >= PriorityUrgent && p <= PriorityLowest }

// Task is a unit of background work. It is stored as JSON (so its exported
// fields are its payload) and run later by a WorkerPool. Embed TaskDefaults
// to get every method but Run.
type Task interface {
	// Run does the work. ctx is cancelled when the task's timeout expires
	// or when the pool is hard-stopped; the running task's record is
	// available with RecordFromContext. q lets Run enqueue follow-up tasks.
	// Returning an error (or panicking) fails the attempt, which is retried
	// up to MaxRetries times; Permanent(err) fails the task at once, and
	// Snooze(d) runs it again after d without using a retry.
	Run(ctx context.Context, q Queue) error
	// TaskType is the routing key. TaskDefaults returns TaskTypeDefault.
	TaskType() TaskType
	// Uniq returns the task's hash when the task is unique, or "" when it is
	// not; an error fails the enqueue (see HashOf). TaskDefaults returns "".
	Uniq() (TaskHash, error)
	// MaxRetries is how many times a failed attempt is retried; 0 means
	// never. TaskDefaults returns MaxRetriesDefault.
	MaxRetries() int
	// Backoff is the wait before the next attempt, given the number of
	// retries already made (0 after the first failure). TaskDefaults
	// returns JitteredBackoff(retries).
	Backoff(retries int) time.Duration
	// Timeout is how long one attempt may run. TaskDefaults returns
	// TaskTimeoutDefault. A pool can override it with Config.TaskTimeout.
	Timeout() time.Duration
	// Priority orders due tasks: PriorityUrgent (1) first, PriorityLowest
	// (4) last. TaskDefaults returns PriorityDefault; WithPriority
	// overrides it for one enqueue.
	Priority() int
}

// TaskDefaults gives a task type the default TaskType, Uniq, MaxRetries,
// Backoff and Timeout. Embed it and write Run; override what you need.
type TaskDefaults struct{}

// TaskType returns TaskTypeDefault.
func (TaskDefaults) TaskType() TaskType { return TaskTypeDefault }

// Uniq returns "": the task is not unique.
func (TaskDefaults) Uniq() (TaskHash, error) { return "", nil }

// MaxRetries returns MaxRetriesDefault.
func (TaskDefaults) MaxRetries() int { return MaxRetriesDefault }

// Backoff returns JitteredBackoff(retries).
func (TaskDefaults) Backoff(retries int) time.Duration { return JitteredBackoff(retries) }

// Timeout returns TaskTimeoutDefault.
func (TaskDefaults) Timeout() time.Duration { return TaskTimeoutDefault }

// Priority returns PriorityDefault.
func (TaskDefaults) Priority() int { return PriorityDefault }

// maxBackoffExponent caps the exponential backoffs at 2^30 seconds (34
// years): beyond it the doubling would overflow time.Duration.
const maxBackoffExponent = 30

// ExponentialBackoff returns 2^retries seconds, capped at 2^30 seconds.
func ExponentialBackoff(retries int) time.Duration {
	retries = min(max(retries, 0), maxBackoffExponent)
	return time.Duration(1<<retries) * time.Second
}

// JitteredBackoff returns ExponentialBackoff(retries) times a random factor
// in [0.75, 1.25): tasks that failed together, in one outage, come back
// spread over half their backoff instead of in lockstep. It is the default
// backoff of TaskDefaults.
func JitteredBackoff(retries int) time.Duration {
	d := ExponentialBackoff(retries)
	return d*3/4 + time.Duration(rand.Int64N(int64(d/2)))
}

// HashOf returns a TaskHash for v: the hex SHA-256 of its JSON encoding.
// Tasks usually return HashOf(t), or HashOf of some of their fields, from
// Uniq. It fails when v cannot be encoded as JSON; enqueueing a task whose
// Uniq fails returns an error wrapping ErrInvalidUniqHash.
func HashOf(v any) (TaskHash, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("hash of %T: %w", v, err)
	}
	sum := sha256.Sum256(b)
	return TaskHash(hex.EncodeToString(sum[:])), nil
}

// permanentError marks an error that fails its task at once.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that, returned by Run, it fails the task at once,
// whatever its retries: the task becomes Failed with err stored in
// error_info (ErrorInfo.Permanent is set). Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was made by Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// snoozeError asks for a later run of its task.
type snoozeError struct{ d time.Duration }

func (e *snoozeError) Error() string { return fmt.Sprintf("snoozed for %v", e.d) }

// Snooze returned by Run puts the task back to wait for d (0 or less: due
// at once) without using a retry: its retries, max retries and last error
// stay as they were. The attempt is neither a success nor a failure. A
// task that snoozes forever never fails, so bound it in the task itself
// (TaskRecord.Attempt counts the claims, snoozed ones included).
func Snooze(d time.Duration) error { return &snoozeError{d: max(d, 0)} }

// SnoozeDelay reports whether err is, or wraps, an error made by Snooze,
// and the wait it asks for: what a pool does with an attempt that returned
// err (unless the attempt timed out or its task was cancelled). Middleware
// that records outcomes uses it.
func SnoozeDelay(err error) (time.Duration, bool) {
	var s *snoozeError
	if !errors.As(err, &s) {
		return 0, false
	}
	return s.d, true
}
