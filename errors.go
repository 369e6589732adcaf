package backie

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
)

// Sentinel errors. Every error Backie returns for one of these conditions
// wraps the sentinel, so callers test with errors.Is. Calls that fail with
// one of them leave the table unchanged.
var (
	// ErrNilTask is returned when a nil Task is enqueued.
	ErrNilTask = errors.New("backie: nil task")

	// ErrTaskNotRegistered is returned when a task's Go type (on enqueue) or
	// a stored task name (on run) is not registered in the Registry.
	ErrTaskNotRegistered = errors.New("backie: task type not registered")

	// ErrTaskAlreadyRegistered is returned by Register when the name, or the
	// Go type, is already registered.
	ErrTaskAlreadyRegistered = errors.New("backie: task already registered")

	// ErrInvalidTaskName is returned by Register for an empty or overlong name.
	ErrInvalidTaskName = errors.New("backie: invalid task name")

	// ErrEncodePayload is returned when a task cannot be encoded as JSON.
	ErrEncodePayload = errors.New("backie: cannot encode task payload")

	// ErrDecodePayload is the error stored on a task whose payload in the
	// table no longer decodes into its registered Go type. The worker that
	// met it goes on with other tasks.
	ErrDecodePayload = errors.New("backie: cannot decode task payload")

	// ErrInvalidUniqHash is returned when a task's TaskHash is longer than
	// MaxTaskHashLen bytes.
	ErrInvalidUniqHash = errors.New("backie: invalid uniq hash")

	// ErrMissingTable is returned when backie_tasks does not exist in the
	// connection's search_path: the migrations have not been run (see Migrate).
	ErrMissingTable = errors.New("backie: table backie_tasks is missing (run the migrations)")

	// ErrPoolClosed is returned when the caller's *pgxpool.Pool is closed.
	ErrPoolClosed = errors.New("backie: database pool is closed")

	// ErrInvalidConfig is returned for a configuration that cannot work
	// (a nil pool, negative counts, a nil registry...).
	ErrInvalidConfig = errors.New("backie: invalid configuration")

	// ErrNotFound is returned when no task has the given id.
	ErrNotFound = errors.New("backie: task not found")

	// ErrTaskTimeout is the error stored on a task that ran longer than its
	// timeout, or whose worker was lost and whose task was taken back.
	ErrTaskTimeout = errors.New("backie: task timed out")

	// ErrTaskPanicked is the error stored on a task whose Run panicked.
	ErrTaskPanicked = errors.New("backie: task panicked")

	// ErrPoolStarted is returned by WorkerPool.Start when called twice.
	ErrPoolStarted = errors.New("backie: worker pool already started")

	// ErrPoolStopped is returned by WorkerPool.Start after the pool stopped.
	ErrPoolStopped = errors.New("backie: worker pool stopped")
)

// interpretError turns driver errors into Backie's errors. It is the one
// place where pgx and Postgres errors are mapped; op names the operation.
func interpretError(op string, err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42P01" && strings.Contains(pgErr.Message, "backie_tasks"):
		return fmt.Errorf("%s: %w: %w", op, ErrMissingTable, err)
	case errors.As(err, &pgErr) && pgErr.Code == "22P05": // jsonb refuses \u0000 in a payload's strings
		return fmt.Errorf("%s: %w: %w", op, ErrEncodePayload, err)
	case errors.Is(err, puddle.ErrClosedPool):
		return fmt.Errorf("%s: %w", op, ErrPoolClosed)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
