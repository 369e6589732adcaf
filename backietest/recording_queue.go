package backietest

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/backie-go/backie"
)

// RecordingQueue is a backie.Queue in memory for unit tests of code that
// enqueues: HTTP handlers, services, and tasks that enqueue follow-ups
// (give it to RunTask). It records every enqueue with its task and
// options, and validates as PgQueue does: an unregistered type, a bad
// TaskType, a failing or too long Uniq hash, a bad priority or a payload
// JSON or jsonb cannot hold give the errors CreateTask gives, and nothing
// is recorded. A unique task whose name and hash are held by an
// unfinished task it holds is not stored again: the call returns that
// task's record, as PgQueue does.
//
// Its records are those CreateTask would return, created at the queue's
// clock (RecordingQueueOptions.Now): RunAt, RunAfter and WithPriority
// show in their ScheduledAt and Priority, and RequireEnqueued judges their
// state at that clock. RecordingQueueOptions.Middleware wraps every
// enqueue, as backie.QueueConfig.Middleware does on a PgQueue.
//
// Its tasks never run by themselves: RunRecord runs one without changing
// the queue, and Drain runs the due ones, follow-ups included, and records
// how they ended as a pool would.
//
// A RecordingQueue is safe for concurrent use. Its zero value is not
// usable: create one with NewRecordingQueue.
type RecordingQueue struct {
	reg   *backie.Registry
	clock func() time.Time
	mw    []backie.EnqueueMiddleware

	mu       sync.Mutex
	enqueued []Enqueued
	tasks    []*backie.TaskRecord // stored tasks, oldest first
}

// RecordingQueueOptions tune NewRecordingQueue. Its zero value is valid.
type RecordingQueueOptions struct {
	// Now is the queue's clock: a task is created at Now(), and due then,
	// or at its RunAt, or its RunAfter delay after Now(); RequireEnqueued
	// judges states, and Drain runs what is due, at Now(). Pass a fake
	// clock's Now to control them. Defaults to time.Now.
	Now func() time.Time
	// Middleware wraps every enqueue, the first outermost, as
	// backie.QueueConfig.Middleware does on a PgQueue: once per call, with
	// the records validated and with their ids but not yet their times; a
	// middleware's error is the call's, a panic fails it with
	// backie.ErrMiddlewarePanicked, and the Metadata it sets is recorded.
	// Defaults to none.
	Middleware []backie.EnqueueMiddleware
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
// of reg, configured by opts when given.
func NewRecordingQueue(reg *backie.Registry, opts ...RecordingQueueOptions) *RecordingQueue {
	q := &RecordingQueue{reg: reg}
	for _, o := range opts {
		if o.Now != nil {
			q.clock = o.Now
		}
		q.mw = append(q.mw, o.Middleware...)
	}
	return q
}

var _ Queue = (*RecordingQueue)(nil)

// Registry returns the queue's registry.
func (q *RecordingQueue) Registry() *backie.Registry { return q.reg }

// now reads the queue's clock.
func (q *RecordingQueue) now() time.Time {
	if q.clock != nil {
		return q.clock()
	}
	return time.Now()
}

// clockOf returns the clock of q: a RecordingQueue's, or time.Now.
func clockOf(q Queue) func() time.Time {
	if rq, ok := q.(*RecordingQueue); ok && rq != nil {
		return rq.now
	}
	return time.Now
}

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
	op := "create tasks"
	if one {
		op = "create task"
	}
	if q.reg == nil {
		return nil, fmt.Errorf("backie: %s: %w: RecordingQueue needs a registry (use NewRecordingQueue)", op, backie.ErrInvalidConfig)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("backie: %s: %w", op, err)
	}
	if len(tasks) == 0 {
		return []*backie.TaskRecord{}, nil
	}
	recs, err := newRecords(q.reg, q.now(), one, tasks, opts)
	if err != nil {
		return nil, err
	}
	// Middleware sees the records as a PgQueue's does: their times are
	// set when they are stored.
	times := make([][2]time.Time, len(recs))
	for i, rec := range recs {
		times[i] = [2]time.Time{rec.CreatedAt, rec.ScheduledAt}
		rec.CreatedAt, rec.ScheduledAt = time.Time{}, time.Time{}
	}
	err = enqueueChain(ctx, q.mw, recs, func(ctx context.Context) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return q.store(tasks, recs, times, opts)
	})
	if err != nil {
		return nil, fmt.Errorf("backie: %s: %w", op, err)
	}
	return recs, nil
}

// store records recs, the records of tasks enqueued with opts, created and
// due at times, as PgQueue's store does: a unique task whose name and hash
// an unfinished task holds is not stored, and its record becomes the
// holder's. The queue keeps copies, so that what the caller and the
// middleware hold is theirs.
func (q *RecordingQueue) store(tasks []backie.Task, recs []*backie.TaskRecord, times [][2]time.Time, opts []backie.CreateOption) error {
	for _, rec := range recs {
		for k, v := range rec.Metadata { // set by middleware; jsonb refuses NUL
			if strings.IndexByte(k, 0) >= 0 || strings.IndexByte(v, 0) >= 0 {
				return fmt.Errorf("task %q: %w: metadata %q holds a NUL byte", rec.Name, backie.ErrEncodePayload, k)
			}
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, rec := range recs {
		e := Enqueued{Task: tasks[i], Options: slices.Clone(opts)}
		if held := q.holder(rec); held != nil {
			*rec = *copyRecord(held)
			e.Existing = true
		} else {
			rec.CreatedAt, rec.ScheduledAt = times[i][0], times[i][1]
			q.tasks = append(q.tasks, copyRecord(rec))
		}
		e.Record = copyRecord(rec)
		q.enqueued = append(q.enqueued, e)
	}
	return nil
}

// enqueueChain runs mws around final, the first middleware outermost, as
// a PgQueue does: a panic in a middleware fails the call with
// backie.ErrMiddlewarePanicked.
func enqueueChain(ctx context.Context, mws []backie.EnqueueMiddleware, recs []*backie.TaskRecord, final func(context.Context) error) (err error) {
	if len(mws) == 0 {
		return final(ctx)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v\n%s", backie.ErrMiddlewarePanicked, r, debug.Stack())
		}
	}()
	return mws[0](ctx, recs, func(ctx context.Context) error { return enqueueChain(ctx, mws[1:], recs, final) })
}

// holder returns the stored task that holds rec's name and hash, if rec is
// unique and one does.
func (q *RecordingQueue) holder(rec *backie.TaskRecord) *backie.TaskRecord {
	if rec.UniqHash == "" {
		return nil
	}
	for _, s := range q.tasks {
		if s.Name == rec.Name && s.UniqHash == rec.UniqHash && s.DoneAt == nil {
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
		if s.ID == id {
			return copyRecord(s), nil
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
	q.tasks = slices.DeleteFunc(q.tasks, match)
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
// unique tasks once; removed tasks, and finished tasks a drain removed
// (DrainOptions.Retention), not at all.
func (q *RecordingQueue) Tasks() []*backie.TaskRecord {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]*backie.TaskRecord, len(q.tasks))
	for i, s := range q.tasks {
		out[i] = copyRecord(s)
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
		if s.Name == name {
			recs = append(recs, copyRecord(s))
		}
	}
	return recs
}

// runNext does on the recording queue what PgQueue.RunNext does on a
// table, for Drain: it claims the next task due by o.Now, or by the
// queue's clock when that is later, in claim order, runs it in the calling
// goroutine as a worker of a pool would, with the queue as its Queue, and
// records how it ended as a pool would. It returns the task as claimed and
// the attempt's result, or a nil task when none is due.
func (q *RecordingQueue) runNext(ctx context.Context, o DrainOptions) (*backie.TaskRecord, *backie.AttemptResult, error) {
	if q.reg == nil {
		return nil, nil, fmt.Errorf("backie: run next: %w: RecordingQueue needs a registry (use NewRecordingQueue)", backie.ErrInvalidConfig)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("backie: run next: %w", err)
	}
	rec := q.claim(q.dueBy(o.Now), o.Types)
	if rec == nil {
		return nil, nil, nil
	}
	res := backie.RunAttempt(ctx, q.reg, q, copyRecord(rec),
		backie.AttemptOptions{Middleware: o.Middleware, Retention: o.Retention})
	q.finish(rec, res, o.Retention, q.dueBy(o.Now))
	return rec, &res, nil
}

// dueBy returns the time tasks must be due by: now, or the queue's clock
// when now is earlier (follow-ups are created at the queue's clock).
func (q *RecordingQueue) dueBy(now time.Time) time.Time {
	if clock := q.now(); !now.After(clock) {
		now = clock
	}
	return now.Truncate(time.Microsecond)
}

// claim marks the first task in claim order that is due by now, of a name
// the registry knows and of one of types (any when empty), Running as a
// pool's claim does (RunningAt now, one more Attempt), and returns a copy;
// nil when none is due.
func (q *RecordingQueue) claim(now time.Time, types []backie.TaskType) *backie.TaskRecord {
	known := make(map[string]bool)
	for _, n := range q.reg.Names() {
		known[n] = true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	next := -1
	for i, r := range q.tasks {
		if r.DoneAt != nil || r.RunningAt != nil || r.ScheduledAt.After(now) || !known[r.Name] ||
			(len(types) > 0 && !slices.Contains(types, r.Type)) {
			continue
		}
		if next < 0 || claimsBefore(r, q.tasks[next]) {
			next = i
		}
	}
	if next < 0 {
		return nil
	}
	rec := copyRecord(q.tasks[next])
	rec.RunningAt = &now
	rec.Attempt++
	q.tasks[next] = rec
	return copyRecord(rec)
}

// claimsBefore reports whether a pool claims a before b: the higher
// priority first, then the earlier scheduled_at, then the smaller id.
func claimsBefore(a, b *backie.TaskRecord) bool {
	switch {
	case a.Priority != b.Priority:
		return a.Priority < b.Priority
	case !a.ScheduledAt.Equal(b.ScheduledAt):
		return a.ScheduledAt.Before(b.ScheduledAt)
	}
	return bytes.Compare(a.ID[:], b.ID[:]) < 0
}

// finish records how the attempt of claimed ended, at now (see
// finishAttempt). As a pool's finishing write, it changes nothing when
// the task was removed or claimed again while it ran.
func (q *RecordingQueue) finish(claimed *backie.TaskRecord, res backie.AttemptResult, retention backie.RetentionMode, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := slices.IndexFunc(q.tasks, func(r *backie.TaskRecord) bool { return r.ID == claimed.ID })
	if i < 0 {
		return
	}
	if r := q.tasks[i]; r.Attempt != claimed.Attempt || r.RunningAt == nil || r.DoneAt != nil {
		return
	}
	if after := finishAttempt(q.tasks[i], res, retention, now); after != nil {
		q.tasks[i] = after
	} else {
		q.tasks = slices.Delete(q.tasks, i, i+1)
	}
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
