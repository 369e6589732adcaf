package backie

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PgQueue is the Queue on PostgreSQL. It runs its statements on the
// caller's *pgxpool.Pool, which it never closes; the table is found through
// the pool's search_path, so a pool whose connections set search_path (the
// "search_path" runtime parameter) uses backie_tasks in that schema.
//
// Every method that writes has a …Tx twin that runs on the caller's pgx.Tx,
// so tasks commit or roll back with the caller's own writes. PgQueue is
// safe for concurrent use.
type PgQueue struct {
	pool     *pgxpool.Pool
	reg      *Registry
	inserter inserter
}

// NewPgQueue returns a queue on pool whose tasks are those of registry.
// A nil pool or registry makes every call fail with ErrInvalidConfig.
func NewPgQueue(pool *pgxpool.Pool, registry *Registry) *PgQueue {
	return &PgQueue{pool: pool, reg: registry}
}

// Registry returns the queue's registry.
func (q *PgQueue) Registry() *Registry { return q.reg }

// Pool returns the caller's pool the queue runs on.
func (q *PgQueue) Pool() *pgxpool.Pool { return q.pool }

var _ Queue = (*PgQueue)(nil)

// dbtx is what both *pgxpool.Pool and pgx.Tx offer.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// taskColumns is the column list scanned by scanRecord.
const taskColumns = `id, task_name, task_type, uniq_hash, payload, timeout_msecs, created_at,
	scheduled_at, running_at, done_at, error_info, retries, max_retries, attempt`

// notifyChannel is the LISTEN/NOTIFY channel of the backie_tasks in the
// current schema, as an SQL expression. Channel names are at most 63 bytes.
const notifyChannel = `left('backie_tasks:' || current_schema(), 63)`

// insertSQL inserts one task per row of the arrays. A unique task whose hash
// is taken by an unfinished task is skipped (ON CONFLICT on the partial
// unique index); rows take the unique index in hash order, so concurrent
// batches cannot deadlock. It NOTIFYs listening pools of the types that are
// due now; in a transaction the notification is delivered at commit.
const insertSQL = `WITH ins AS (
	INSERT INTO backie_tasks (id, task_name, task_type, uniq_hash, payload, timeout_msecs, max_retries, scheduled_at)
	SELECT t.id, t.name, t.typ, t.hash, t.payload, t.tmo, t.mr,
	       COALESCE(t.run_at, now() + t.delay_ms * interval '1 millisecond')
	FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::bigint[], $7::int[],
	            $8::timestamptz[], $9::bigint[])
	     AS t(id, name, typ, hash, payload, tmo, mr, run_at, delay_ms)
	ORDER BY t.hash
	ON CONFLICT (uniq_hash) WHERE uniq_hash IS NOT NULL AND done_at IS NULL DO NOTHING
	RETURNING id, task_type, created_at, scheduled_at
), notified AS (
	SELECT pg_notify(` + notifyChannel + `, typ)
	FROM (SELECT DISTINCT task_type AS typ FROM ins WHERE scheduled_at <= now()) AS due
)
SELECT id, created_at, scheduled_at, (SELECT count(*) FROM notified) FROM ins`

// prepare validates task and builds its record. It touches no database.
func (q *PgQueue) prepare(task Task) (*TaskRecord, error) {
	if task == nil {
		return nil, ErrNilTask
	}
	if v := reflect.ValueOf(task); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, fmt.Errorf("%w: nil %s", ErrNilTask, v.Type())
	}
	name, err := q.reg.nameOf(task)
	if err != nil {
		return nil, err
	}
	hash := task.Uniq()
	if len(hash) > MaxTaskHashLen {
		return nil, fmt.Errorf("%w: task %q: hash is %d bytes, at most %d", ErrInvalidUniqHash, name, len(hash), MaxTaskHashLen)
	}
	payload, err := json.Marshal(task)
	if err != nil {
		return nil, fmt.Errorf("%w: task %q: %w", ErrEncodePayload, name, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("backie: new task id: %w", err)
	}
	timeout := task.Timeout()
	if timeout <= 0 {
		timeout = TaskTimeoutDefault
	}
	timeout = max(timeout.Truncate(time.Millisecond), time.Millisecond) // whole ms, as stored
	taskType := task.TaskType()
	if taskType == "" {
		taskType = TaskTypeDefault
	}
	return &TaskRecord{
		ID:         id,
		Name:       name,
		Type:       taskType,
		UniqHash:   hash,
		Payload:    payload,
		Timeout:    timeout,
		MaxRetries: min(max(task.MaxRetries(), 0), 1<<31-1), // fits max_retries integer
	}, nil
}

func (q *PgQueue) check(ctx context.Context, op string) error {
	if q == nil || q.pool == nil || q.reg == nil {
		return fmt.Errorf("backie: %s: %w: PgQueue needs a pool and a registry (use NewPgQueue)", op, ErrInvalidConfig)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("backie: %s: %w", op, err)
	}
	return nil
}

// CreateTask stores task and returns its record. See Queue.CreateTask.
func (q *PgQueue) CreateTask(ctx context.Context, task Task, opts ...CreateOption) (*TaskRecord, error) {
	if err := q.check(ctx, "create task"); err != nil {
		return nil, err
	}
	recs, err := q.createTasks(ctx, q.pool, []Task{task}, opts)
	if err != nil {
		return nil, err
	}
	return recs[0], nil
}

// CreateTaskTx is CreateTask in the caller's transaction tx: the task is
// visible to workers only when tx commits, and is gone if it rolls back.
func (q *PgQueue) CreateTaskTx(ctx context.Context, tx pgx.Tx, task Task, opts ...CreateOption) (*TaskRecord, error) {
	if err := q.checkTx(ctx, tx, "create task"); err != nil {
		return nil, err
	}
	recs, err := q.createTasks(ctx, tx, []Task{task}, opts)
	if err != nil {
		return nil, err
	}
	return recs[0], nil
}

// CreateTasks stores tasks in one statement. See Queue.CreateTasks. If any
// task is invalid, nothing is stored.
func (q *PgQueue) CreateTasks(ctx context.Context, tasks []Task, opts ...CreateOption) ([]*TaskRecord, error) {
	if err := q.check(ctx, "create tasks"); err != nil {
		return nil, err
	}
	return q.createTasks(ctx, q.pool, tasks, opts)
}

// CreateTasksTx is CreateTasks in the caller's transaction tx.
func (q *PgQueue) CreateTasksTx(ctx context.Context, tx pgx.Tx, tasks []Task, opts ...CreateOption) ([]*TaskRecord, error) {
	if err := q.checkTx(ctx, tx, "create tasks"); err != nil {
		return nil, err
	}
	return q.createTasks(ctx, tx, tasks, opts)
}

func (q *PgQueue) checkTx(ctx context.Context, tx pgx.Tx, op string) error {
	if err := q.check(ctx, op); err != nil {
		return err
	}
	if tx == nil {
		return fmt.Errorf("backie: %s: %w: nil transaction", op, ErrInvalidConfig)
	}
	return nil
}

// insertArgs holds the columns of a batch, one slice element per task.
// pgID is how an id is sent to Postgres. pgx encodes a pgtype.UUID straight
// into the binary format when it knows the parameter's type (its default,
// prepared statements), and as text when it does not (QueryExecModeExec and
// the simple protocol, which PgBouncer users choose); a uuid.UUID would go
// through driver.Valuer and fmt (8% of a drain's CPU), and a [16]byte
// cannot be encoded at all without the parameter's type.
func pgID(id TaskID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

type insertArgs struct {
	ids      []pgtype.UUID // see pgID
	names    []string
	types    []string
	hashes   []*string
	payloads []json.RawMessage // jsonb in binary, json text without parameter types
	timeouts []int64
	retries  []int32
	runAts   []*time.Time // nil: now() + delays
	delays   []int64      // milliseconds
}

func (a *insertArgs) add(rec *TaskRecord, o createOptions) {
	var hash *string
	if rec.UniqHash != "" {
		h := string(rec.UniqHash)
		hash = &h
	}
	a.ids = append(a.ids, pgID(rec.ID))
	a.names = append(a.names, rec.Name)
	a.types = append(a.types, string(rec.Type))
	a.hashes = append(a.hashes, hash)
	a.payloads = append(a.payloads, json.RawMessage(rec.Payload))
	a.timeouts = append(a.timeouts, rec.Timeout.Milliseconds())
	a.retries = append(a.retries, int32(min(rec.MaxRetries, 1<<31-1)))
	a.runAts = append(a.runAts, o.runAt)
	a.delays = append(a.delays, o.delay.Milliseconds())
}

func (a *insertArgs) addAll(b insertArgs) {
	a.ids = append(a.ids, b.ids...)
	a.names = append(a.names, b.names...)
	a.types = append(a.types, b.types...)
	a.hashes = append(a.hashes, b.hashes...)
	a.payloads = append(a.payloads, b.payloads...)
	a.timeouts = append(a.timeouts, b.timeouts...)
	a.retries = append(a.retries, b.retries...)
	a.runAts = append(a.runAts, b.runAts...)
	a.delays = append(a.delays, b.delays...)
}

func (q *PgQueue) createTasks(ctx context.Context, db dbtx, tasks []Task, opts []CreateOption) ([]*TaskRecord, error) {
	if len(tasks) == 0 {
		return []*TaskRecord{}, nil
	}
	o := applyCreateOptions(opts)
	recs := make([]*TaskRecord, len(tasks))
	var a insertArgs
	for i, t := range tasks {
		rec, err := q.prepare(t)
		if err != nil {
			if len(tasks) > 1 {
				return nil, fmt.Errorf("backie: create task %d of %d: %w", i, len(tasks), err)
			}
			return nil, fmt.Errorf("backie: create task: %w", err)
		}
		recs[i] = rec
		a.add(rec, o)
	}

	// Unique tasks whose hash is taken are skipped by the insert and looked
	// up afterwards; if the holder finished in between, insert again.
	pending := recs
	for round := 0; ; round++ {
		inserted, err := q.insert(ctx, db, a)
		if err != nil {
			return nil, err
		}
		var skipped []*TaskRecord
		for _, rec := range pending {
			if row, ok := inserted[rec.ID]; ok {
				rec.CreatedAt, rec.ScheduledAt = row.createdAt, row.scheduledAt
				continue
			}
			if rec.UniqHash == "" {
				return nil, fmt.Errorf("backie: create task: task %s was not inserted", rec.ID)
			}
			skipped = append(skipped, rec)
		}
		if len(skipped) == 0 {
			return recs, nil
		}
		found, err := q.findUnfinishedByHash(ctx, db, skipped)
		if err != nil {
			return nil, err
		}
		var again []*TaskRecord
		for _, rec := range skipped {
			if existing, ok := found[rec.UniqHash]; ok {
				*rec = *existing
				continue
			}
			again = append(again, rec)
		}
		if len(again) == 0 {
			return recs, nil
		}
		if round >= 10 {
			return nil, fmt.Errorf("backie: create task: unique task %q keeps conflicting with tasks that finish", again[0].UniqHash)
		}
		pending = again
		a = insertArgs{}
		for _, rec := range again {
			a.add(rec, o)
		}
	}
}

type insertedRow struct{ createdAt, scheduledAt time.Time }

// insert runs insertSQL: on the caller's transaction as it is, and on the
// pool through the inserter, which merges concurrent calls.
func (q *PgQueue) insert(ctx context.Context, db dbtx, a insertArgs) (map[TaskID]insertedRow, error) {
	if tx, ok := db.(pgx.Tx); ok {
		return runInsert(ctx, tx, a)
	}
	return q.inserter.insert(ctx, q.pool, a)
}

func runInsert(ctx context.Context, db dbtx, a insertArgs) (map[TaskID]insertedRow, error) {
	rows, err := db.Query(ctx, insertSQL, a.ids, a.names, a.types, a.hashes, a.payloads, a.timeouts, a.retries,
		a.runAts, a.delays)
	if err != nil {
		return nil, interpretError("backie: create task", err)
	}
	out := make(map[TaskID]insertedRow, len(a.ids))
	var (
		id       TaskID
		r        insertedRow
		notified int64
	)
	_, err = pgx.ForEachRow(rows, []any{(*[16]byte)(&id), &r.createdAt, &r.scheduledAt, &notified}, func() error {
		out[id] = r
		return nil
	})
	if err != nil {
		return nil, interpretError("backie: create task", err)
	}
	return out, nil
}

func (q *PgQueue) findUnfinishedByHash(ctx context.Context, db dbtx, recs []*TaskRecord) (map[TaskHash]*TaskRecord, error) {
	hashes := make([]string, len(recs))
	for i, r := range recs {
		hashes[i] = string(r.UniqHash)
	}
	rows, err := db.Query(ctx, `SELECT `+taskColumns+` FROM backie_tasks WHERE uniq_hash = ANY($1) AND done_at IS NULL`, hashes)
	if err != nil {
		return nil, interpretError("backie: create task: find unique task", err)
	}
	found := make(map[TaskHash]*TaskRecord, len(recs))
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			rows.Close()
			return nil, interpretError("backie: create task: find unique task", err)
		}
		found[rec.UniqHash] = rec
	}
	if err := rows.Err(); err != nil {
		return nil, interpretError("backie: create task: find unique task", err)
	}
	return found, nil
}

// FindTask returns the task with id. See Queue.FindTask.
func (q *PgQueue) FindTask(ctx context.Context, id TaskID) (*TaskRecord, error) {
	if err := q.check(ctx, "find task"); err != nil {
		return nil, err
	}
	rec, err := scanRecord(q.pool.QueryRow(ctx, `SELECT `+taskColumns+` FROM backie_tasks WHERE id = $1`, pgID(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("backie: find task %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, interpretError("backie: find task", err)
	}
	return rec, nil
}

// RemoveTask deletes the task with id. See Queue.RemoveTask.
func (q *PgQueue) RemoveTask(ctx context.Context, id TaskID) error {
	if err := q.check(ctx, "remove task"); err != nil {
		return err
	}
	return removeTask(ctx, q.pool, id)
}

// RemoveTaskTx is RemoveTask in the caller's transaction tx.
func (q *PgQueue) RemoveTaskTx(ctx context.Context, tx pgx.Tx, id TaskID) error {
	if err := q.checkTx(ctx, tx, "remove task"); err != nil {
		return err
	}
	return removeTask(ctx, tx, id)
}

func removeTask(ctx context.Context, db dbtx, id TaskID) error {
	tag, err := db.Exec(ctx, `DELETE FROM backie_tasks WHERE id = $1`, pgID(id))
	if err != nil {
		return interpretError("backie: remove task", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("backie: remove task %s: %w", id, ErrNotFound)
	}
	return nil
}

// RemoveTasksByType deletes every task of taskType. See Queue.RemoveTasksByType.
func (q *PgQueue) RemoveTasksByType(ctx context.Context, taskType TaskType) (int64, error) {
	if err := q.check(ctx, "remove tasks by type"); err != nil {
		return 0, err
	}
	return removeWhere(ctx, q.pool, "remove tasks by type", `DELETE FROM backie_tasks WHERE task_type = $1`, string(taskType))
}

// RemoveTasksByTypeTx is RemoveTasksByType in the caller's transaction tx.
func (q *PgQueue) RemoveTasksByTypeTx(ctx context.Context, tx pgx.Tx, taskType TaskType) (int64, error) {
	if err := q.checkTx(ctx, tx, "remove tasks by type"); err != nil {
		return 0, err
	}
	return removeWhere(ctx, tx, "remove tasks by type", `DELETE FROM backie_tasks WHERE task_type = $1`, string(taskType))
}

// RemoveAllTasks deletes every task. See Queue.RemoveAllTasks.
func (q *PgQueue) RemoveAllTasks(ctx context.Context) (int64, error) {
	if err := q.check(ctx, "remove all tasks"); err != nil {
		return 0, err
	}
	return removeWhere(ctx, q.pool, "remove all tasks", `DELETE FROM backie_tasks`)
}

// RemoveAllTasksTx is RemoveAllTasks in the caller's transaction tx.
func (q *PgQueue) RemoveAllTasksTx(ctx context.Context, tx pgx.Tx) (int64, error) {
	if err := q.checkTx(ctx, tx, "remove all tasks"); err != nil {
		return 0, err
	}
	return removeWhere(ctx, tx, "remove all tasks", `DELETE FROM backie_tasks`)
}

func removeWhere(ctx context.Context, db dbtx, op, sql string, args ...any) (int64, error) {
	tag, err := db.Exec(ctx, sql, args...)
	if err != nil {
		return 0, interpretError("backie: "+op, err)
	}
	return tag.RowsAffected(), nil
}

// scanRecord scans the taskColumns of one row.
func scanRecord(row pgx.Row) (*TaskRecord, error) {
	var (
		r         TaskRecord
		name, typ string
		hash      *string
		timeoutMS int64
		errInfo   []byte
	)
	err := row.Scan((*[16]byte)(&r.ID), &name, &typ, &hash, &r.Payload, &timeoutMS, &r.CreatedAt,
		&r.ScheduledAt, &r.RunningAt, &r.DoneAt, &errInfo, &r.Retries, &r.MaxRetries, &r.Attempt)
	if err != nil {
		return nil, err
	}
	r.Name, r.Type, r.Timeout = name, TaskType(typ), time.Duration(timeoutMS)*time.Millisecond
	if hash != nil {
		r.UniqHash = TaskHash(*hash)
	}
	if errInfo != nil {
		r.Error = new(ErrorInfo)
		if err := json.Unmarshal(errInfo, r.Error); err != nil {
			r.Error = &ErrorInfo{Message: string(errInfo)}
		}
	}
	return &r, nil
}
