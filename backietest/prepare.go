package backietest

import (
	"errors"
	"fmt"
	"time"

	"github.com/backie-go/backie"
)

// This file builds task records as PgQueue.CreateTask would, without a
// database, for the recording queue and RunTask: Registry.NewRecord
// validates as CreateTask does, and the errors are worded as CreateTask's
// and CreateTasks' (TestRecordingQueueValidatesAsPgQueue pins them).

// newRecords validates tasks as CreateTask (one is true) or CreateTasks
// does and returns the records it would store, created at now and due
// when their options say, to the microsecond as PostgreSQL keeps them; or
// the error it would return.
func newRecords(reg *backie.Registry, now time.Time, one bool, tasks []backie.Task, opts []backie.CreateOption) ([]*backie.TaskRecord, error) {
	op := "create tasks"
	if one {
		op = "create task"
	}
	if reg == nil {
		return nil, fmt.Errorf("backie: %s: %w: the queue has no registry", op, backie.ErrInvalidConfig)
	}
	recs := make([]*backie.TaskRecord, len(tasks))
	for i, task := range tasks {
		rec, err := reg.NewRecord(now, task, opts...)
		if err != nil {
			// NewRecord wraps what CreateTask wraps, as "backie: new
			// record: %w"; CreateTasks names the task of a batch.
			inner := errors.Unwrap(err)
			if inner == nil {
				inner = err
			}
			if len(tasks) > 1 {
				return nil, fmt.Errorf("backie: %s: task %d of %d: %w", op, i, len(tasks), inner)
			}
			return nil, fmt.Errorf("backie: %s: %w", op, inner)
		}
		rec.CreatedAt = rec.CreatedAt.Truncate(time.Microsecond)
		rec.ScheduledAt = rec.ScheduledAt.Truncate(time.Microsecond)
		recs[i] = rec
	}
	return recs, nil
}

// nameOf returns the name T is registered under in reg: the name of T's
// zero value's Go type (a nil pointer for a pointer type), which NameOf
// finds without encoding anything.
func nameOf[T backie.Task](reg *backie.Registry) (string, error) {
	if reg == nil {
		return "", fmt.Errorf("%w: the queue has no registry", backie.ErrInvalidConfig)
	}
	var task T
	return reg.NameOf(task)
}
