package backietest

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/backie-go/backie"
)

// RecordingQueue is a backie.Queue in memory for unit tests of code that
// enqueues: HTTP handlers, services, and tasks that enqueue follow-ups
// (give it to RunTask). It records every enqueue with its task and
// options, and validates as PgQueue does: an unregistered type, a bad
// TaskType, a failing or too long Uniq hash, a bad priority or a payload
// JSON cannot encode give the errors CreateTask gives, and nothing is
// recorded. A unique task whose name and hash are held by a task it holds
// is not stored again: the call returns that task's record, as PgQueue
// does.
//
// Its tasks never run by themselves; RunRecord runs one. The options are
// recorded as given: a record's Priority follows WithPriority, but its
// ScheduledAt is the time of the enqueue whatever RunAt or RunAfter say
// (Backie does not export how to apply an option), so RequireEnqueued
// refuses to judge the schedule or state of a task enqueued with options.
//
// A RecordingQueue is safe for concurrent use. Its zero value is not
// usable: create one with NewRecordingQueue.
type RecordingQueue struct {
	reg *backie.Registry

	mu       sync.Mutex
	enqueued []Enqueued
	tasks    []*stored // stored tasks, oldest first
}

// stored is a task the RecordingQueue holds.
type stored struct {
	rec         *backie.TaskRecord
	withOptions bool // enqueued with options, whose schedule is unknown
}

// Enqueued is one task enqueued on a RecordingQueue.
type Enqueued struct {
	// Task is the value given to CreateTask or CreateTasks.
	Task backie.Task
	// Record is what the call returned: for a unique task whose name and
	// hash were held, the holder's record.
	Record *backie.TaskRecord
	// Options are the options given to the call.
	Options []backie.CreateOption
	// Existing is set when the task was unique and its name and hash were
	// held by a task of the queue: nothing was stored.
	Existing bool
}

// NewRecordingQueue returns an empty RecordingQueue whose tasks are those
// of reg.
func NewRecordingQueue(reg *backie.Registry) *RecordingQueue {
	return &RecordingQueue{reg: reg}
}

var _ Queue = (*RecordingQueue)(nil)

// Registry returns the queue's registry.
func (q *RecordingQueue) Registry() *backie.Registry { return q.reg }

// CreateTask validates task as PgQueue.CreateTask does, records it and
// returns its record. See backie.Queue.
func (q *RecordingQueue) CreateTask(ctx context.Context, task backie.Task, opts ...backie.CreateOption) (*backie.TaskRecord, error) {
	recs, err := q.create(ctx, true, []backie.Task{task}, opts)
	if err != nil {
		return nil, err
	}
	return recs[0], nil
}

// CreateTasks validates tasks as PgQueue.CreateTasks does and records them
// all, or, when one is invalid, none. See backie.Queue.
func (q *RecordingQueue) CreateTasks(ctx context.Context, tasks []backie.Task, opts ...backie.CreateOption) ([]*backie.TaskRecord, error) {
	return q.create(ctx, false, tasks, opts)
}

func (q *RecordingQueue) create(ctx context.Context, one bool, tasks []backie.Task, opts []backie.CreateOption) ([]*backie.TaskRecord, error) {
	if q.reg == nil {
		return nil, fmt.Errorf("backie: create task: %w: RecordingQueue needs a registry (use NewRecordingQueue)", backie.ErrInvalidConfig)
	}
	recs, err := prepare(ctx, q.reg, one, tasks, opts)
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if holdsNUL(rec.Payload) {
			op := "create tasks"
			if one {
				op = "create task"
			}
			return nil, fmt.Errorf("backie: %s: %w: task %q: its payload holds a NUL character (\\u0000), which PostgreSQL's jsonb refuses",
				op, backie.ErrEncodePayload, rec.Name)
		}
	}
	now := time.Now().Truncate(time.Microsecond) // as stored
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]*backie.TaskRecord, len(recs))
	for i, rec := range recs {
		e := Enqueued{Task: tasks[i], Options: slices.Clone(opts)}
		if held := q.holder(rec); held != nil {
			e.Record, e.Existing = held.rec, true
		} else {
			rec.CreatedAt, rec.ScheduledAt = now, now
			q.tasks = append(q.tasks, &stored{rec: rec, withOptions: len(opts) > 0})
			e.Record = rec
		}
		q.enqueued = append(q.enqueued, e)
		out[i] = copyRecord(e.Record)
	}
	return out, nil
}

// holder returns the stored task that holds rec's name and hash, if rec is
// unique and one does.
func (q *RecordingQueue) holder(rec *backie.TaskRecord) *stored {
	if rec.UniqHash == "" {
		return nil
	}
	for _, s := range q.tasks {
		if s.rec.Name == rec.Name && s.rec.UniqHash == rec.UniqHash && s.rec.DoneAt == nil {
			return s
		}
	}
	return nil
}

// FindTask returns the task with id, or an error wrapping
// backie.ErrNotFound, as PgQueue.FindTask does.
func (q *RecordingQueue) FindTask(ctx context.Context, id backie.TaskID) (*backie.TaskRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("backie: find task: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range q.tasks {
		if s.rec.ID == id {
			return copyRecord(s.rec), nil
		}
	}
	return nil, fmt.Errorf("backie: find task %s: %w", id, backie.ErrNotFound)
}

// RemoveTask deletes the task with id, or returns an error wrapping
// backie.ErrNotFound, as PgQueue.RemoveTask does. Its enqueue stays in
// Enqueued.
func (q *RecordingQueue) RemoveTask(ctx context.Context, id backie.TaskID) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("backie: remove task: %w", err)
	}
	if q.remove(func(r *backie.TaskRecord) bool { return r.ID == id }) == 0 {
		return fmt.Errorf("backie: remove task %s: %w", id, backie.ErrNotFound)
	}
	return nil
}

// RemoveTasksByType deletes every task of taskType and returns how many.
func (q *RecordingQueue) RemoveTasksByType(ctx context.Context, taskType backie.TaskType) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("backie: remove tasks by type: %w", err)
	}
	return q.remove(func(r *backie.TaskRecord) bool { return r.Type == taskType }), nil
}

// RemoveAllTasks deletes every task and returns how many.
func (q *RecordingQueue) RemoveAllTasks(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("backie: remove all tasks: %w", err)
	}
	return q.remove(func(*backie.TaskRecord) bool { return true }), nil
}

func (q *RecordingQueue) remove(match func(*backie.TaskRecord) bool) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.tasks)
	q.tasks = slices.DeleteFunc(q.tasks, func(s *stored) bool { return match(s.rec) })
	return int64(n - len(q.tasks))
}

// Enqueued returns every successful enqueue, in order, one per task, with
// the tasks and options as given. Removing a task does not remove its
// enqueue.
func (q *RecordingQueue) Enqueued() []Enqueued {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]Enqueued, len(q.enqueued))
	for i, e := range q.enqueued {
		e.Record = copyRecord(e.Record)
		e.Options = slices.Clone(e.Options)
		out[i] = e
	}
	return out
}

// Tasks returns the records of the tasks the queue holds, oldest first:
// unique tasks once, removed tasks not at all.
func (q *RecordingQueue) Tasks() []*backie.TaskRecord {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]*backie.TaskRecord, len(q.tasks))
	for i, s := range q.tasks {
		out[i] = copyRecord(s.rec)
	}
	return out
}

// Reset forgets every task and every enqueue.
func (q *RecordingQueue) Reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.enqueued, q.tasks = nil, nil
}

// storedOf returns the queue's tasks of name, oldest first.
func (q *RecordingQueue) storedOf(name string) []*backie.TaskRecord {
	q.mu.Lock()
	defer q.mu.Unlock()
	var recs []*backie.TaskRecord
	for _, s := range q.tasks {
		if s.rec.Name == name {
			recs = append(recs, copyRecord(s.rec))
		}
	}
	return recs
}

// scheduleUnknown reports whether task id was enqueued with options, whose
// schedule the queue cannot know.
func (q *RecordingQueue) scheduleUnknown(id backie.TaskID) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range q.tasks {
		if s.rec.ID == id {
			return s.withOptions
		}
	}
	return false
}

// copyRecord returns a copy of rec that shares nothing with it.
func copyRecord(rec *backie.TaskRecord) *backie.TaskRecord {
	c := *rec
	c.Payload = bytes.Clone(rec.Payload)
	c.Metadata = maps.Clone(rec.Metadata)
	if rec.Error != nil {
		e := *rec.Error
		c.Error = &e
	}
	return &c
}
