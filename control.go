package backie

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// This file holds what operators do to tasks and types: cancel, retry,
// reschedule, pause and resume, purge. Each write has a …Tx twin that runs
// in the caller's transaction; notifications then reach the pools at
// commit.

// ErrUniqueConflict is returned by RetryTask when the task is unique and
// another unfinished task of its name holds its hash.
var ErrUniqueConflict = errors.New("another unfinished task has the same name and hash")

// CancelTask cancels the task with id. A Ready or Scheduled task becomes
// Cancelled at once. A Running task's context is cancelled in whatever
// pool runs it (within a second: through LISTEN/NOTIFY, or by polling when
// notifications are off), with context.Cause ErrTaskCancelled, and when Run
// returns the task is Cancelled, whatever Run returned, and never retried;
// until then it reads as Running with CancelledAt set. Cancelling it again
// meanwhile changes nothing. Cancelled tasks stay in the table (whatever
// the pools' retention) until the leader's cleanup or RemoveTask.
//
// It returns the task as it is afterwards, or an error wrapping ErrNotFound,
// or ErrTaskFinished for a task that is Done, Failed or Cancelled.
func (q *PgQueue) CancelTask(ctx context.Context, id TaskID) (*TaskRecord, error) {
	if err := q.check(ctx); err != nil {
		return nil, opError("cancel task", err)
	}
	return cancelTask(ctx, q.pool, id)
}

// CancelTaskTx is CancelTask in the caller's transaction tx.
func (q *PgQueue) CancelTaskTx(ctx context.Context, tx pgx.Tx, id TaskID) (*TaskRecord, error) {
	if err := q.checkTx(ctx, tx); err != nil {
		return nil, opError("cancel task", err)
	}
	return cancelTask(ctx, tx, id)
}

func cancelTask(ctx context.Context, db dbtx, id TaskID) (*TaskRecord, error) {
	rec, changed, err := control(ctx, db, sqlCancelTask, pgID(id))
	op := "cancel task " + id.String()
	switch {
	case err != nil:
		return nil, opError(op, err)
	case changed:
		return rec, nil
	case rec.State() == StateRunning: // cancel already asked for
		return rec, nil
	}
	return nil, opError(op, fmt.Errorf("%w: it is %s", ErrTaskFinished, rec.State()))
}

// RetryTask makes the task with id Ready now: a Failed, Cancelled or Done
// task runs again, and a Scheduled one does not wait for its time (a Ready
// one is left as it is). Its retries and max retries stay as they were, so
// a task that failed for good gets one more attempt, and is Failed again if
// that fails; its last error stays until an attempt succeeds.
//
// It returns the task as it is afterwards, or an error wrapping ErrNotFound,
// ErrTaskRunning for a Running task, or ErrUniqueConflict when the task is
// unique and another unfinished task holds its name and hash.
func (q *PgQueue) RetryTask(ctx context.Context, id TaskID) (*TaskRecord, error) {
	if err := q.check(ctx); err != nil {
		return nil, opError("retry task", err)
	}
	return retryTask(ctx, q.pool, id)
}

// RetryTaskTx is RetryTask in the caller's transaction tx.
func (q *PgQueue) RetryTaskTx(ctx context.Context, tx pgx.Tx, id TaskID) (*TaskRecord, error) {
	if err := q.checkTx(ctx, tx); err != nil {
		return nil, opError("retry task", err)
	}
	return retryTask(ctx, tx, id)
}

func retryTask(ctx context.Context, db dbtx, id TaskID) (*TaskRecord, error) {
	rec, changed, err := control(ctx, db, sqlRetryTask, pgID(id))
	op := "retry task " + id.String()
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UniqueViolation:
		return nil, opError(op, ErrUniqueConflict)
	case err != nil:
		return nil, opError(op, err)
	case changed:
		return rec, nil
	}
	return nil, opError(op, fmt.Errorf("%w: cancel it first", ErrTaskRunning))
}

// RescheduleTask makes the task with id, Ready or Scheduled, due at at (a
// time in the past makes it Ready). Its retries stay as they were.
//
// It returns the task as it is afterwards, or an error wrapping ErrNotFound,
// ErrTaskRunning or ErrTaskFinished.
func (q *PgQueue) RescheduleTask(ctx context.Context, id TaskID, at time.Time) (*TaskRecord, error) {
	if err := q.check(ctx); err != nil {
		return nil, opError("reschedule task", err)
	}
	return rescheduleTask(ctx, q.pool, id, at)
}

// RescheduleTaskTx is RescheduleTask in the caller's transaction tx.
func (q *PgQueue) RescheduleTaskTx(ctx context.Context, tx pgx.Tx, id TaskID, at time.Time) (*TaskRecord, error) {
	if err := q.checkTx(ctx, tx); err != nil {
		return nil, opError("reschedule task", err)
	}
	return rescheduleTask(ctx, tx, id, at)
}

func rescheduleTask(ctx context.Context, db dbtx, id TaskID, at time.Time) (*TaskRecord, error) {
	rec, changed, err := control(ctx, db, sqlRescheduleTask, pgID(id), at)
	op := "reschedule task " + id.String()
	switch {
	case err != nil:
		return nil, opError(op, err)
	case changed:
		return rec, nil
	case rec.State() == StateRunning:
		return nil, opError(op, ErrTaskRunning)
	}
	return nil, opError(op, fmt.Errorf("%w: it is %s", ErrTaskFinished, rec.State()))
}

// control runs a control statement (see sql.go): the task afterwards and
// whether the statement changed it, or ErrNotFound.
func control(ctx context.Context, db dbtx, sql string, args ...any) (*TaskRecord, bool, error) {
	var (
		changed  bool
		notified int64
	)
	rec, err := scanRecordAnd(db.QueryRow(ctx, sql, args...), &changed, &notified)
	if isNoRows(err) {
		return nil, false, ErrNotFound
	}
	return rec, changed, err
}

// PausedType is a paused task type.
type PausedType struct {
	Type     TaskType
	PausedAt time.Time
}

// PauseType stops every pool, in every process, from claiming tasks of
// type t, at once (the claims read the paused types) and until ResumeType,
// across restarts. Running tasks finish. Pausing a paused type changes
// nothing. Tasks of t can still be enqueued; they wait.
func (q *PgQueue) PauseType(ctx context.Context, t TaskType) error {
	if err := q.check(ctx); err != nil {
		return opError("pause type", err)
	}
	return pauseType(ctx, q.pool, sqlPauseType, "pause type", t)
}

// PauseTypeTx is PauseType in the caller's transaction tx.
func (q *PgQueue) PauseTypeTx(ctx context.Context, tx pgx.Tx, t TaskType) error {
	if err := q.checkTx(ctx, tx); err != nil {
		return opError("pause type", err)
	}
	return pauseType(ctx, tx, sqlPauseType, "pause type", t)
}

// ResumeType lets the pools claim tasks of type t again; idle pools are
// woken at once (or at their next poll with notifications off). Resuming a
// type that is not paused changes nothing.
func (q *PgQueue) ResumeType(ctx context.Context, t TaskType) error {
	if err := q.check(ctx); err != nil {
		return opError("resume type", err)
	}
	return pauseType(ctx, q.pool, sqlResumeType, "resume type", t)
}

// ResumeTypeTx is ResumeType in the caller's transaction tx.
func (q *PgQueue) ResumeTypeTx(ctx context.Context, tx pgx.Tx, t TaskType) error {
	if err := q.checkTx(ctx, tx); err != nil {
		return opError("resume type", err)
	}
	return pauseType(ctx, tx, sqlResumeType, "resume type", t)
}

func pauseType(ctx context.Context, db dbtx, sql, op string, t TaskType) error {
	if err := validTaskType(t); err != nil {
		return opError(op, err)
	}
	if _, err := db.Exec(ctx, sql, string(t)); err != nil {
		return opError(op, err)
	}
	return nil
}

// PausedTypes returns the paused task types, sorted.
func (q *PgQueue) PausedTypes(ctx context.Context) ([]PausedType, error) {
	if err := q.check(ctx); err != nil {
		return nil, opError("paused types", err)
	}
	out, err := pausedTypes(ctx, q.pool)
	if err != nil {
		return nil, opError("paused types", err)
	}
	return out, nil
}

func pausedTypes(ctx context.Context, db dbtx) ([]PausedType, error) {
	rows, err := db.Query(ctx, sqlPausedTypes)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PausedType
	for rows.Next() {
		var (
			p   PausedType
			typ string
		)
		if err := rows.Scan(&typ, &p.PausedAt); err != nil {
			return nil, err
		}
		p.Type = TaskType(typ)
		out = append(out, p)
	}
	return out, rows.Err()
}

// PurgeTasks deletes the tasks in state, which must be Done, Failed or
// Cancelled, that finished more than olderThan ago, and returns how many.
// It fails with ErrInvalidFilter for another state or a negative olderThan.
func (q *PgQueue) PurgeTasks(ctx context.Context, state TaskState, olderThan time.Duration) (int64, error) {
	if err := q.check(ctx); err != nil {
		return 0, opError("purge tasks", err)
	}
	var sql string
	switch state {
	case StateDone:
		sql = sqlPurgeDone
	case StateFailed:
		sql = sqlPurgeFailed
	case StateCancelled:
		sql = sqlPurgeCancelled
	default:
		return 0, opError("purge tasks", fmt.Errorf("%w: state %q: only done, failed and cancelled tasks are purged", ErrInvalidFilter, state))
	}
	if olderThan < 0 {
		return 0, opError("purge tasks", fmt.Errorf("%w: negative age %v", ErrInvalidFilter, olderThan))
	}
	return removeWhere(ctx, q.pool, "purge tasks", sql, olderThan.Milliseconds())
}
