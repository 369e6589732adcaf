package backie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
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
	mw       []EnqueueMiddleware
	inserter inserter
	// afterFinish, when set (by tests), is called after every write of
	// finished attempts by a pool on this queue.
	afterFinish func()
}

// QueueConfig configures a PgQueue. Its zero value is valid.
type QueueConfig struct {
	// Middleware wraps every enqueue, the first outermost (see
	// EnqueueMiddleware). Defaults to none.
	Middleware []EnqueueMiddleware
}

// NewPgQueue returns a queue on pool whose tasks are those of registry,
// configured by cfg when given. A nil pool or registry makes every call
// fail with ErrInvalidConfig.
func NewPgQueue(pool *pgxpool.Pool, registry *Registry, cfg ...QueueConfig) *PgQueue {
	q := &PgQueue{pool: pool, reg: registry}
	for _, c := range cfg {
		q.mw = append(q.mw, c.Middleware...)
	}
	return q
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

// prepare validates task and builds its record, with the options o. It
// touches no database.
func (q *PgQueue) prepare(task Task, o createOptions) (*TaskRecord, error) {
	return prepare(q.reg, task, o)
}

// prepare validates task, of a type registered in reg, and builds its
// record with the options o.
func prepare(reg *Registry, task Task, o createOptions) (*TaskRecord, error) {
	if task == nil {
		return nil, ErrNilTask
	}
	if v := reflect.ValueOf(task); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, fmt.Errorf("%w: nil %s", ErrNilTask, v.Type())
	}
	name, err := reg.nameOf(task)
	if err != nil {
		return nil, err
	}
	taskType := task.TaskType()
	if taskType == "" {
		taskType = TaskTypeDefault
	}
	if err := validTaskType(taskType); err != nil {
		return nil, fmt.Errorf("task %q: %w", name, err)
	}
	var hash TaskHash
	if o.uniq != nil {
		hash = *o.uniq
	} else if hash, err = task.Uniq(); err != nil {
		return nil, fmt.Errorf("task %q: %w: %w", name, ErrInvalidUniqHash, err)
	}
	priority := task.Priority()
	if o.priority != nil {
		priority = *o.priority
	}
	if !validPriority(priority) {
		return nil, fmt.Errorf("task %q: %w: %d, want %d (urgent) to %d (lowest)", name, ErrInvalidPriority, priority,
			PriorityUrgent, PriorityLowest)
	}
	switch {
	case len(hash) > MaxTaskHashLen:
		return nil, fmt.Errorf("task %q: %w: %d bytes, at most %d", name, ErrInvalidUniqHash, len(hash), MaxTaskHashLen)
	case strings.IndexByte(string(hash), 0) >= 0:
		return nil, fmt.Errorf("task %q: %w: holds a NUL byte", name, ErrInvalidUniqHash)
	}
	payload, err := json.Marshal(task)
	if err != nil {
		return nil, fmt.Errorf("task %q: %w: %w", name, ErrEncodePayload, err)
	}
	if holdsNUL(payload) {
		return nil, fmt.Errorf("task %q: %w: a string holds a NUL character, which jsonb cannot store", name, ErrEncodePayload)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("new task id: %w", err)
	}
	timeout := task.Timeout()
	if timeout <= 0 {
		timeout = TaskTimeoutDefault
	}
	timeout = max(timeout.Truncate(time.Millisecond), time.Millisecond) // whole ms, as stored
	return &TaskRecord{
		ID:         id,
		Name:       name,
		Type:       taskType,
		UniqHash:   hash,
		Priority:   priority,
		Payload:    payload,
		Timeout:    timeout,
		MaxRetries: min(max(task.MaxRetries(), 0), math.MaxInt32), // fits max_retries integer
	}, nil
}

// check fails when q cannot work or ctx has ended.
func (q *PgQueue) check(ctx context.Context) error {
	if q == nil || q.pool == nil || q.reg == nil {
		return fmt.Errorf("%w: PgQueue needs a pool and a registry (use NewPgQueue)", ErrInvalidConfig)
	}
	return ctx.Err()
}

// checkTx is check for the …Tx methods.
func (q *PgQueue) checkTx(ctx context.Context, tx pgx.Tx) error {
	if err := q.check(ctx); err != nil {
		return err
	}
	if tx == nil {
		return fmt.Errorf("%w: nil transaction", ErrInvalidConfig)
	}
	return nil
}

// CreateTask stores task and returns its record. See Queue.CreateTask.
func (q *PgQueue) CreateTask(ctx context.Context, task Task, opts ...CreateOption) (*TaskRecord, error) {
	if err := q.check(ctx); err != nil {
		return nil, opError("create task", err)
	}
	recs, err := q.createTasks(ctx, q.pool, []Task{task}, opts)
	if err != nil {
		return nil, opError("create task", err)
	}
	return recs[0], nil
}

// CreateTaskTx is CreateTask in the caller's transaction tx: the task is
// visible to workers only when tx commits, and is gone if it rolls back.
func (q *PgQueue) CreateTaskTx(ctx context.Context, tx pgx.Tx, task Task, opts ...CreateOption) (*TaskRecord, error) {
	if err := q.checkTx(ctx, tx); err != nil {
		return nil, opError("create task", err)
	}
	recs, err := q.createTasks(ctx, tx, []Task{task}, opts)
	if err != nil {
		return nil, opError("create task", err)
	}
	return recs[0], nil
}

// CreateTasks stores tasks in one statement. See Queue.CreateTasks. If any
// task is invalid, nothing is stored.
func (q *PgQueue) CreateTasks(ctx context.Context, tasks []Task, opts ...CreateOption) ([]*TaskRecord, error) {
	if err := q.check(ctx); err != nil {
		return nil, opError("create tasks", err)
	}
	recs, err := q.createTasks(ctx, q.pool, tasks, opts)
	if err != nil {
		return nil, opError("create tasks", err)
	}
	return recs, nil
}

// CreateTasksTx is CreateTasks in the caller's transaction tx.
func (q *PgQueue) CreateTasksTx(ctx context.Context, tx pgx.Tx, tasks []Task, opts ...CreateOption) ([]*TaskRecord, error) {
	if err := q.checkTx(ctx, tx); err != nil {
		return nil, opError("create tasks", err)
	}
	recs, err := q.createTasks(ctx, tx, tasks, opts)
	if err != nil {
		return nil, opError("create tasks", err)
	}
	return recs, nil
}

// insertArgs holds the columns of a batch, one slice element per task.
type insertArgs struct {
	ids        []pgtype.UUID // see pgID
	names      []string
	types      []string
	hashes     []*string
	priorities []int16
	payloads   []json.RawMessage // jsonb in binary, json text without parameter types
	timeouts   []int64
	retries    []int32
	runAts     []*time.Time // nil: now() + delays
	delays     []int64      // milliseconds
	metadata   []json.RawMessage
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
	a.priorities = append(a.priorities, int16(rec.Priority))
	a.payloads = append(a.payloads, json.RawMessage(rec.Payload))
	a.timeouts = append(a.timeouts, rec.Timeout.Milliseconds())
	a.retries = append(a.retries, int32(rec.MaxRetries))
	a.runAts = append(a.runAts, o.runAt)
	a.delays = append(a.delays, o.delay.Milliseconds())
	var meta json.RawMessage
	if len(rec.Metadata) > 0 {
		meta, _ = json.Marshal(rec.Metadata) // a map of strings encodes
	}
	a.metadata = append(a.metadata, meta)
}

func (a *insertArgs) addAll(b insertArgs) {
	a.ids = append(a.ids, b.ids...)
	a.names = append(a.names, b.names...)
	a.types = append(a.types, b.types...)
	a.hashes = append(a.hashes, b.hashes...)
	a.priorities = append(a.priorities, b.priorities...)
	a.payloads = append(a.payloads, b.payloads...)
	a.timeouts = append(a.timeouts, b.timeouts...)
	a.retries = append(a.retries, b.retries...)
	a.runAts = append(a.runAts, b.runAts...)
	a.delays = append(a.delays, b.delays...)
	a.metadata = append(a.metadata, b.metadata...)
}

// uniqueRetriesMax bounds how often CreateTasks inserts again a unique task
// whose holder finished between the insert that skipped it and the lookup.
const uniqueRetriesMax = 10

func (q *PgQueue) createTasks(ctx context.Context, db dbtx, tasks []Task, opts []CreateOption) ([]*TaskRecord, error) {
	if len(tasks) == 0 {
		return []*TaskRecord{}, nil
	}
	o := applyCreateOptions(opts)
	recs := make([]*TaskRecord, len(tasks))
	for i, t := range tasks {
		rec, err := q.prepare(t, o)
		if err != nil {
			if len(tasks) > 1 {
				return nil, fmt.Errorf("task %d of %d: %w", i, len(tasks), err)
			}
			return nil, err
		}
		recs[i] = rec
	}
	err := enqueueChain(ctx, q.mw, recs, func(ctx context.Context) error { return q.store(ctx, db, recs, o) })
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// store inserts recs, filling in what the insert sets, or, for a unique
// task whose name and hash are taken, the existing task's record.
func (q *PgQueue) store(ctx context.Context, db dbtx, recs []*TaskRecord, o createOptions) error {
	for _, rec := range recs {
		if err := validMetadata(rec.Metadata); err != nil {
			return fmt.Errorf("task %q: %w", rec.Name, err)
		}
	}
	if copyable(recs, o) {
		return copyInsert(ctx, db, q.pool, recs, o)
	}
	var a insertArgs
	for _, rec := range recs {
		a.add(rec, o)
	}

	// Unique tasks whose name and hash are taken are skipped by the insert
	// and looked up afterwards; if the holder finished in between, insert
	// again.
	pending := recs
	for round := 0; ; round++ {
		inserted, err := q.insert(ctx, db, a)
		if err != nil {
			return err
		}
		var skipped []*TaskRecord
		for _, rec := range pending {
			if row, ok := inserted[rec.ID]; ok {
				rec.CreatedAt, rec.ScheduledAt = row.createdAt, row.scheduledAt
				continue
			}
			if rec.UniqHash == "" {
				return fmt.Errorf("task %s was not inserted", rec.ID)
			}
			skipped = append(skipped, rec)
		}
		if len(skipped) == 0 {
			return nil
		}
		found, err := findUnfinishedUnique(ctx, db, skipped)
		if err != nil {
			return err
		}
		var again []*TaskRecord
		for _, rec := range skipped {
			if existing, ok := found[uniqueKey{rec.Name, rec.UniqHash}]; ok {
				*rec = *existing
				continue
			}
			again = append(again, rec)
		}
		if len(again) == 0 {
			return nil
		}
		if round >= uniqueRetriesMax {
			return fmt.Errorf("unique task %q of %q keeps conflicting with tasks that finish", again[0].UniqHash, again[0].Name)
		}
		pending = again
		a = insertArgs{}
		for _, rec := range again {
			a.add(rec, o)
		}
	}
}

type insertedRow struct{ createdAt, scheduledAt time.Time }

// insert runs sqlInsert: on the caller's transaction as it is, and on the
// pool through the inserter, which merges concurrent calls.
func (q *PgQueue) insert(ctx context.Context, db dbtx, a insertArgs) (map[TaskID]insertedRow, error) {
	if tx, ok := db.(pgx.Tx); ok {
		return runInsert(ctx, tx, a)
	}
	return q.inserter.insert(ctx, q.pool, a)
}

func runInsert(ctx context.Context, db dbtx, a insertArgs) (map[TaskID]insertedRow, error) {
	rows, err := db.Query(ctx, sqlInsert, a.ids, a.names, a.types, a.hashes, a.priorities, a.payloads, a.timeouts,
		a.retries, a.runAts, a.delays, a.metadata)
	if err != nil {
		return nil, err
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
		return nil, err
	}
	return out, nil
}

// copyMinRows is the smallest batch inserted by COPY.
const copyMinRows = 100

// copyable reports whether a batch goes by COPY: a large one, without
// unique tasks (COPY has no ON CONFLICT) and without RunAfter (its delay is
// measured by the database's clock, which COPY's rows cannot name).
func copyable(recs []*TaskRecord, o createOptions) bool {
	if len(recs) < copyMinRows || o.delay > 0 {
		return false
	}
	for _, r := range recs {
		if r.UniqHash != "" {
			return false
		}
	}
	return true
}

// copyInsert stores recs with COPY, then notifies the pools, in one
// transaction: the caller's tx, or one of its own on pool. PostgreSQL
// reads COPY's rows straight into the table, where the INSERT of sqlInsert
// builds them from arrays first.
func copyInsert(ctx context.Context, db dbtx, pool *pgxpool.Pool, recs []*TaskRecord, o createOptions) error {
	if tx, ok := db.(pgx.Tx); ok {
		return copyInTx(ctx, tx, recs, o)
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return copyInTx(ctx, tx, recs, o) })
}

func copyInTx(ctx context.Context, tx pgx.Tx, recs []*TaskRecord, o createOptions) error {
	cols := copyColumns
	if o.runAt != nil {
		cols = copyColumnsSchedAt
	}
	types := make([]string, 0, 1)
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == len(recs) {
			return nil, nil
		}
		r := recs[i]
		i++
		if !slices.Contains(types, string(r.Type)) {
			types = append(types, string(r.Type))
		}
		var meta json.RawMessage
		if len(r.Metadata) > 0 {
			meta, _ = json.Marshal(r.Metadata)
		}
		row := []any{pgID(r.ID), r.Name, string(r.Type), int16(r.Priority), json.RawMessage(r.Payload),
			r.Timeout.Milliseconds(), int32(r.MaxRetries), meta}
		if o.runAt != nil {
			row = append(row, o.runAt.Truncate(time.Microsecond)) // as PostgreSQL stores it
		}
		return row, nil
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"backie_tasks"}, cols, src); err != nil {
		return err
	}
	var (
		now      time.Time
		notified int64
	)
	if err := tx.QueryRow(ctx, sqlCopyNotify, types, o.runAt).Scan(&now, &notified); err != nil {
		return err
	}
	for _, r := range recs {
		r.CreatedAt, r.ScheduledAt = now, now
		if o.runAt != nil {
			r.ScheduledAt = o.runAt.Truncate(time.Microsecond)
		}
	}
	return nil
}

// holdsNUL reports whether the JSON b holds the escape of a NUL character
// (\u0000 not itself escaped), which PostgreSQL's jsonb refuses.
func holdsNUL(b []byte) bool {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(`\u0000`))
		if j < 0 {
			return false
		}
		j += i
		slashes := 0
		for k := j; k >= 0 && b[k] == '\\'; k-- {
			slashes++
		}
		if slashes%2 == 1 {
			return true
		}
		i = j + 1
	}
}

// validMetadata checks what enqueue middleware put in a task's metadata:
// PostgreSQL's jsonb refuses NUL.
func validMetadata(m map[string]string) error {
	for k, v := range m {
		if strings.IndexByte(k, 0) >= 0 || strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("%w: metadata %q holds a NUL byte", ErrEncodePayload, k)
		}
	}
	return nil
}

// uniqueKey is what a unique task is unique by.
type uniqueKey struct {
	name string
	hash TaskHash
}

func findUnfinishedUnique(ctx context.Context, db dbtx, recs []*TaskRecord) (map[uniqueKey]*TaskRecord, error) {
	names, hashes := make([]string, len(recs)), make([]string, len(recs))
	for i, r := range recs {
		names[i], hashes[i] = r.Name, string(r.UniqHash)
	}
	rows, err := db.Query(ctx, sqlFindUnfinishedUnique, names, hashes)
	if err != nil {
		return nil, fmt.Errorf("find unique task: %w", err)
	}
	found, err := scanRecords(rows, len(recs))
	if err != nil {
		return nil, fmt.Errorf("find unique task: %w", err)
	}
	out := make(map[uniqueKey]*TaskRecord, len(found))
	for _, rec := range found {
		out[uniqueKey{rec.Name, rec.UniqHash}] = rec
	}
	return out, nil
}

// FindTask returns the task with id. See Queue.FindTask.
func (q *PgQueue) FindTask(ctx context.Context, id TaskID) (*TaskRecord, error) {
	if err := q.check(ctx); err != nil {
		return nil, opError("find task", err)
	}
	return findTask(ctx, q.pool, id)
}

// FindTaskTx is FindTask in the caller's transaction tx.
func (q *PgQueue) FindTaskTx(ctx context.Context, tx pgx.Tx, id TaskID) (*TaskRecord, error) {
	if err := q.checkTx(ctx, tx); err != nil {
		return nil, opError("find task", err)
	}
	return findTask(ctx, tx, id)
}

func findTask(ctx context.Context, db dbtx, id TaskID) (*TaskRecord, error) {
	rec, err := scanRecord(db.QueryRow(ctx, sqlFindTask, pgID(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, opError("find task "+id.String(), ErrNotFound)
	}
	if err != nil {
		return nil, opError("find task", err)
	}
	return rec, nil
}

// RemoveTask deletes the task with id. See Queue.RemoveTask.
func (q *PgQueue) RemoveTask(ctx context.Context, id TaskID) error {
	if err := q.check(ctx); err != nil {
		return opError("remove task", err)
	}
	return removeTask(ctx, q.pool, id)
}

// RemoveTaskTx is RemoveTask in the caller's transaction tx.
func (q *PgQueue) RemoveTaskTx(ctx context.Context, tx pgx.Tx, id TaskID) error {
	if err := q.checkTx(ctx, tx); err != nil {
		return opError("remove task", err)
	}
	return removeTask(ctx, tx, id)
}

func removeTask(ctx context.Context, db dbtx, id TaskID) error {
	tag, err := db.Exec(ctx, sqlDeleteTask, pgID(id))
	if err != nil {
		return opError("remove task", err)
	}
	if tag.RowsAffected() == 0 {
		return opError("remove task "+id.String(), ErrNotFound)
	}
	return nil
}

// RemoveTasksByType deletes every task of taskType. See Queue.RemoveTasksByType.
func (q *PgQueue) RemoveTasksByType(ctx context.Context, taskType TaskType) (int64, error) {
	if err := q.check(ctx); err != nil {
		return 0, opError("remove tasks by type", err)
	}
	return removeWhere(ctx, q.pool, "remove tasks by type", sqlDeleteTasksOfType, string(taskType))
}

// RemoveTasksByTypeTx is RemoveTasksByType in the caller's transaction tx.
func (q *PgQueue) RemoveTasksByTypeTx(ctx context.Context, tx pgx.Tx, taskType TaskType) (int64, error) {
	if err := q.checkTx(ctx, tx); err != nil {
		return 0, opError("remove tasks by type", err)
	}
	return removeWhere(ctx, tx, "remove tasks by type", sqlDeleteTasksOfType, string(taskType))
}

// RemoveAllTasks deletes every task. See Queue.RemoveAllTasks.
func (q *PgQueue) RemoveAllTasks(ctx context.Context) (int64, error) {
	if err := q.check(ctx); err != nil {
		return 0, opError("remove all tasks", err)
	}
	return removeWhere(ctx, q.pool, "remove all tasks", sqlDeleteAllTasks)
}

// RemoveAllTasksTx is RemoveAllTasks in the caller's transaction tx.
func (q *PgQueue) RemoveAllTasksTx(ctx context.Context, tx pgx.Tx) (int64, error) {
	if err := q.checkTx(ctx, tx); err != nil {
		return 0, opError("remove all tasks", err)
	}
	return removeWhere(ctx, tx, "remove all tasks", sqlDeleteAllTasks)
}

func removeWhere(ctx context.Context, db dbtx, op, sql string, args ...any) (int64, error) {
	tag, err := db.Exec(ctx, sql, args...)
	if err != nil {
		return 0, opError(op, err)
	}
	return tag.RowsAffected(), nil
}
