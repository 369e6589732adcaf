package backietest

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backie-go/backie"
)

// This file builds task records as PgQueue.CreateTask would, without a
// database, for the recording queue and RunTask.
//
// Stopgap. Backie exports neither the validation CreateTask applies nor the
// lookup of a Go type's registered name, so the kit borrows both from a
// PgQueue: an enqueue middleware sees the records "validated and with their
// ids" and returns before anything is stored. This relies on two things
// the library does today: PgQueue only checks that its pool is not nil
// before it validates, and enqueue middleware runs before any statement.
// TestPrepareMatchesPgQueue pins every error and every field to a real
// PgQueue's, so a change of either fails a test. What would end it: an
// exported Registry.NewRecord (validate as CreateTask does and return the
// record it would store) and Registry.NameOf.

// errPrepared is what the capturing middleware returns instead of storing.
var errPrepared = errors.New("backietest: prepared, not stored")

// unusedPool is the pool of the capturing PgQueue: never connected, never
// used, since the middleware stops every call before the insert.
var unusedPool = new(pgxpool.Pool)

// prepare validates tasks and returns the records that CreateTask (one is
// true) or CreateTasks would store, with the errors they would return. The
// records have no CreatedAt or ScheduledAt: the database sets those.
func prepare(ctx context.Context, reg *backie.Registry, one bool, tasks []backie.Task, opts []backie.CreateOption) ([]*backie.TaskRecord, error) {
	var got []*backie.TaskRecord
	capture := func(_ context.Context, recs []*backie.TaskRecord, _ func(context.Context) error) error {
		got = recs
		return errPrepared
	}
	q := backie.NewPgQueue(unusedPool, reg, backie.QueueConfig{Middleware: []backie.EnqueueMiddleware{capture}})
	var err error
	if one {
		_, err = q.CreateTask(ctx, tasks[0], opts...)
	} else {
		_, err = q.CreateTasks(ctx, tasks, opts...)
	}
	switch {
	case errors.Is(err, errPrepared):
		return got, nil
	case err != nil:
		return nil, err
	}
	return []*backie.TaskRecord{}, nil // CreateTasks of no tasks
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
