package backie

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
)

// Sentinel errors. Every error Backie returns for one of these conditions
// wraps the sentinel, so callers test with errors.Is. Calls that fail with
// one of them leave the table unchanged. The sentinels' own texts carry no
// "backie: " prefix: the error returned to the caller has it once, at its
// outermost wrap.
var (
	// ErrNilTask is returned when a nil Task is enqueued.
	ErrNilTask = errors.New("nil task")

	// ErrTaskNotRegistered is returned when a task's Go type (on enqueue) or
	// a stored task name (on run) is not registered in the Registry.
	ErrTaskNotRegistered = errors.New("task type not registered")

	// ErrTaskAlreadyRegistered is returned by Register when the name, or the
	// Go type, is already registered.
	ErrTaskAlreadyRegistered = errors.New("task already registered")

	// ErrInvalidTaskName is returned by Register for a name that is empty,
	// longer than MaxTaskNameLen bytes, not UTF-8, or holds a NUL byte.
	ErrInvalidTaskName = errors.New("invalid task name")

	// ErrInvalidTaskType is returned when a task's TaskType, or a type in
	// Config.TaskTypes, is longer than MaxTaskTypeLen bytes, not UTF-8, or
	// holds a NUL byte. An error that wraps it matches ErrInvalidTaskName
	// too: names and types follow the same rules.
	ErrInvalidTaskType error = &kindOfError{msg: "invalid task type", kindOf: ErrInvalidTaskName}

	// ErrInvalidTask is returned by Register for a Go type that cannot be a
	// task: an interface, or a struct whose fields JSON does not encode.
	ErrInvalidTask = errors.New("invalid task")

	// ErrEncodePayload is returned when a task cannot be encoded as JSON.
	ErrEncodePayload = errors.New("cannot encode task payload")

	// ErrDecodePayload is the error stored on a task whose payload in the
	// table no longer decodes into its registered Go type. The task fails
	// at once; the worker that met it goes on with other tasks.
	ErrDecodePayload = errors.New("cannot decode task payload")

	// ErrInvalidUniqHash is returned when a task's Uniq fails, or returns a
	// hash longer than MaxTaskHashLen bytes or holding a NUL byte.
	ErrInvalidUniqHash = errors.New("invalid uniq hash")

	// ErrMissingTable is returned when one of Backie's tables does not exist
	// in the connection's search_path: the migrations have not been run
	// (see Migrate).
	ErrMissingTable = errors.New("table is missing (run the migrations)")

	// ErrMissingSchema is returned by Migrate when the pool's search_path
	// names no schema that exists: create the schema, or set
	// MigrateConfig.Schema, which Migrate creates.
	ErrMissingSchema = errors.New("schema is missing")

	// ErrPoolClosed is returned when the caller's *pgxpool.Pool is closed.
	ErrPoolClosed = errors.New("database pool is closed")

	// ErrInvalidConfig is returned for a configuration that cannot work
	// (a nil pool, negative counts, a nil or empty registry...).
	ErrInvalidConfig = errors.New("invalid configuration")

	// ErrNotFound is returned when no task has the given id.
	ErrNotFound = errors.New("task not found")

	// ErrTaskTimeout is the error stored on a task that ran longer than its
	// timeout, or whose worker was lost and whose task was taken back.
	ErrTaskTimeout = errors.New("task timed out")

	// ErrTaskPanicked is the error stored on a task whose Run panicked.
	ErrTaskPanicked = errors.New("task panicked")

	// ErrPoolStarted is returned by WorkerPool.Start when called twice.
	ErrPoolStarted = errors.New("worker pool already started")

	// ErrPoolStopped is returned by WorkerPool.Start after the pool stopped.
	ErrPoolStopped = errors.New("worker pool stopped")

	// ErrInvalidPriority is returned when a task's priority is not one of
	// PriorityUrgent..PriorityLowest.
	ErrInvalidPriority = errors.New("invalid priority")

	// ErrTaskFinished is returned by CancelTask and RescheduleTask for a
	// task that is Done, Failed or Cancelled.
	ErrTaskFinished = errors.New("task is finished")

	// ErrTaskRunning is returned by RetryTask and RescheduleTask for a task
	// that is Running (CancelTask it first).
	ErrTaskRunning = errors.New("task is running")

	// ErrTaskCancelled is the cause of the cancellation of a running task's
	// context after CancelTask: context.Cause(ctx) returns it in Run.
	ErrTaskCancelled = errors.New("task cancelled")

	// ErrInvalidFilter is returned by ListTasks and PurgeTasks for a filter
	// that cannot work: an unknown state, a bad cursor, a limit out of range.
	ErrInvalidFilter = errors.New("invalid filter")
)

// kindOfError is a sentinel that also matches a broader one.
type kindOfError struct {
	msg    string
	kindOf error
}

func (e *kindOfError) Error() string        { return e.msg }
func (e *kindOfError) Is(target error) bool { return target == e.kindOf }

// opError is how an error leaves the package: "backie: op: …", with driver
// errors turned into Backie's sentinels. It is the one place where pgx and
// PostgreSQL errors are mapped. Errors made inside the package carry no
// prefix; each exported entry point wraps its error with opError once.
func opError(op string, err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == pgerrcode.UndefinedTable && strings.Contains(pgErr.Message, "backie_"):
			return fmt.Errorf("backie: %s: %w: %w", op, ErrMissingTable, err)
		case pgErr.Code == pgerrcode.UntranslatableCharacter: // jsonb refuses \u0000 in a payload's strings
			return fmt.Errorf("backie: %s: %w: %w", op, ErrEncodePayload, err)
		}
	}
	if errors.Is(err, puddle.ErrClosedPool) {
		return fmt.Errorf("backie: %s: %w", op, ErrPoolClosed)
	}
	return fmt.Errorf("backie: %s: %w", op, err)
}

// isCanceled reports whether err comes from a cancelled or expired context.
func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// isNoRows reports whether err says a query returned no row.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
