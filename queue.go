package backie

import (
	"context"
	"time"
)

// Queue is what handlers and running tasks use to enqueue and inspect
// tasks. It does not depend on a database driver: PgQueue implements it on
// PostgreSQL, and tests of code that enqueues can supply their own.
type Queue interface {
	// CreateTask stores task and returns its record. For a unique task
	// (Uniq returns a hash) whose name and hash match an unfinished task,
	// it inserts nothing and returns the existing record.
	CreateTask(ctx context.Context, task Task, opts ...CreateOption) (*TaskRecord, error)
	// CreateTasks stores many tasks in one round trip and returns their
	// records in the order of tasks. Options apply to every task.
	CreateTasks(ctx context.Context, tasks []Task, opts ...CreateOption) ([]*TaskRecord, error)
	// FindTask returns the task with id, or an error wrapping ErrNotFound.
	FindTask(ctx context.Context, id TaskID) (*TaskRecord, error)
	// RemoveTask deletes the task with id, whatever its state, or returns an
	// error wrapping ErrNotFound. A worker running it can no longer finish it.
	RemoveTask(ctx context.Context, id TaskID) error
	// RemoveTasksByType deletes every task of taskType and returns how many.
	RemoveTasksByType(ctx context.Context, taskType TaskType) (int64, error)
	// RemoveAllTasks deletes every task and returns how many.
	RemoveAllTasks(ctx context.Context) (int64, error)
}

// CreateOption changes how CreateTask and CreateTasks store tasks.
type CreateOption func(*createOptions)

type createOptions struct {
	runAt    *time.Time
	delay    time.Duration
	priority *int
	uniq     *TaskHash // replaces the task's Uniq (periodic tasks' start runs)
}

// RunAt makes the task due at t instead of now: it stays Scheduled until t.
// A t in the past makes the task Ready at once.
func RunAt(t time.Time) CreateOption {
	return func(o *createOptions) { o.runAt = &t; o.delay = 0 }
}

// RunAfter makes the task due d after it is stored (measured by the
// database's clock), in whole milliseconds (d is truncated). A d <= 0
// makes it Ready at once.
func RunAfter(d time.Duration) CreateOption {
	return func(o *createOptions) { o.delay = max(d, 0).Truncate(time.Millisecond); o.runAt = nil }
}

// WithPriority gives the task priority p instead of its Priority(): from
// PriorityUrgent (1, claimed first) to PriorityLowest (4). Another value
// fails the enqueue with ErrInvalidPriority.
func WithPriority(p int) CreateOption {
	return func(o *createOptions) { o.priority = &p }
}

func applyCreateOptions(opts []CreateOption) createOptions {
	var o createOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}
