package backie

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// This file holds the workers, which run claimed tasks, and decide, the
// pure function that says what a finished attempt does to its task's row.

// attempt is how one attempt of a task ended.
type attempt struct {
	rec         *TaskRecord
	task        Task   // the decoded task; nil when its payload did not decode
	err         error  // what Run returned; nil: success
	stack       string // the stack of a panic in Run (or in decoding)
	timedOut    bool   // the attempt's timeout fired
	interrupted bool   // a hard stop cancelled the attempt
	cancelled   bool   // CancelTask cancelled the attempt
	abandoned   bool   // the rescuer took the task back from a lost worker
	runFor      time.Duration
}

// verdict is what happens to a task after an attempt.
type verdict int

const (
	verdictDone      verdict = iota // succeeded
	verdictRetry                    // failed, runs again after a backoff
	verdictFailed                   // failed for good
	verdictReleased                 // interrupted by a hard stop: Ready again, no retry used
	verdictSnoozed                  // asked to run again later, no retry used
	verdictCancelled                // cancelled by CancelTask while it ran
)

// rowChange is how the completer writes one finished attempt. The DELETE
// takes the rows with remove set; the UPDATE (sqlFinishUpdate) the others,
// column by column:
type rowChange struct {
	id      TaskID
	attempt int32 // the claim it finishes: the write's guard
	remove  bool  // delete the row (retention)
	// finish sets done_at (and keeps running_at as the last attempt's
	// start); otherwise running_at is cleared and the task waits again.
	finish bool
	// keepError leaves error_info as it is; otherwise error_info becomes
	// errorInfo (nil: NULL).
	keepError bool
	errorInfo []byte
	// addRetries is added to retries: 1 for a retry.
	addRetries int32
	// delayMS, when not nil, makes the task due that many milliseconds
	// after the write; nil leaves scheduled_at as it is.
	delayMS *int64
}

// decision is what decide returns: the verdict, the row change, and the
// error stored (nil for a success, a release or a snooze).
type decision struct {
	verdict verdict
	change  rowChange
	info    *ErrorInfo
	delay   time.Duration // before the next attempt (retry, snooze)
}

// decide says what attempt a does to its task's row, under retention.
// backoff returns the task's Backoff for a number of retries; it is called
// only for a retry. now stamps the stored error.
func decide(a attempt, retention RetentionMode, backoff func(retries int) time.Duration, now time.Time) decision {
	rec := a.rec
	change := rowChange{id: rec.ID, attempt: int32(rec.Attempt)}
	var snooze *snoozeError
	switch {
	case a.cancelled:
		// Whatever Run returned: a cancelled task is never retried.
		change.finish, change.keepError = true, true
		return decision{verdict: verdictCancelled, change: change}
	case a.err == nil && !a.timedOut && !a.abandoned:
		change.remove = !retention.keepsSuccess()
		change.finish = !change.remove
		return decision{verdict: verdictDone, change: change}
	case errors.As(a.err, &snooze) && !a.timedOut:
		change.keepError = true
		change.delayMS = ptr(snooze.d.Milliseconds())
		return decision{verdict: verdictSnoozed, change: change, delay: snooze.d}
	case a.interrupted && a.stack == "" && !a.timedOut:
		change.keepError = true
		return decision{verdict: verdictReleased, change: change}
	}

	info := &ErrorInfo{Kind: ErrorKindError, Stack: a.stack, Retries: rec.Retries, At: now.UTC()}
	if a.err != nil {
		info.Message = a.err.Error()
	}
	switch {
	case a.abandoned:
		info.Kind = ErrorKindAbandoned
	case a.stack != "":
		info.Kind = ErrorKindPanic
	case a.timedOut:
		info.Kind = ErrorKindTimeout
		switch {
		case a.err == nil:
			info.Message = fmt.Sprintf("%v after %v (Run returned nil after its timeout had fired)", ErrTaskTimeout, rec.Timeout)
		case !errors.Is(a.err, ErrTaskTimeout):
			info.Message = fmt.Sprintf("%v after %v: %v", ErrTaskTimeout, rec.Timeout, a.err)
		}
	case errors.Is(a.err, ErrDecodePayload), errors.Is(a.err, ErrTaskNotRegistered):
		info.Kind, info.Permanent = ErrorKindDecode, true
	case IsPermanent(a.err):
		info.Permanent = true
	}
	change.errorInfo = encodeErrorInfo(info)
	if !info.Permanent && rec.Retries < rec.MaxRetries {
		d := max(backoff(rec.Retries), 0)
		change.addRetries = 1
		change.delayMS = ptr(d.Milliseconds())
		return decision{verdict: verdictRetry, change: change, info: info, delay: d}
	}
	change.remove = !retention.keepsFailure()
	change.finish = !change.remove
	return decision{verdict: verdictFailed, change: change, info: info}
}

// encodeErrorInfo encodes info for error_info. jsonb refuses \u0000, so a
// NUL in an error must not make the finishing write fail.
func encodeErrorInfo(info *ErrorInfo) []byte {
	clean := *info
	clean.Message = strings.ReplaceAll(clean.Message, "\x00", "\uFFFD")
	clean.Stack = strings.ReplaceAll(clean.Stack, "\x00", "\uFFFD")
	b, err := json.Marshal(clean)
	if err != nil { // not reachable with these field types; keep the message
		b, _ = json.Marshal(ErrorInfo{Message: clean.Message, Kind: clean.Kind, Retries: clean.Retries, At: clean.At})
	}
	return b
}

func ptr[T any](v T) *T { return &v }

// workers run the tasks the claimer sends on jobs, each contained (its own
// timeout, panics recovered), and send each attempt's row change to the
// completer. Every worker gives its slot back once its result is queued.
type workers struct {
	reg       *Registry
	queue     Queue // what Run receives
	mw        []RunMiddleware
	log       *slog.Logger
	retention RetentionMode
	slots     *slots
	jobs      <-chan *TaskRecord
	results   chan<- rowChange

	mu   sync.Mutex
	held map[TaskID]*heldTask // claimed tasks, waiting for a worker or running
	// done, failed and retried count finished attempts for the pool's
	// heartbeat (see process).
	done, failed, retried atomic.Int64
}

// heldTask is a task the pool holds: claimed, and waiting in the claimer's
// buffer (cancel nil) or running.
type heldTask struct {
	cancel    context.CancelCauseFunc
	cancelled bool // cancelled while it waited: it must not start
}

// hold records claimed tasks, before they are handed to the workers, so
// that a cancel that comes while they wait is not lost.
func (w *workers) hold(recs []*TaskRecord) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.held == nil {
		w.held = make(map[TaskID]*heldTask)
	}
	for _, r := range recs {
		w.held[r.ID] = &heldTask{}
	}
}

// begin marks task id as running with cancel; it reports false when the
// task was cancelled while it waited, and must not start.
func (w *workers) begin(id TaskID, cancel context.CancelCauseFunc) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.held == nil {
		w.held = make(map[TaskID]*heldTask)
	}
	h := w.held[id]
	if h == nil {
		h = &heldTask{}
		w.held[id] = h
	}
	if h.cancelled {
		return false
	}
	h.cancel = cancel
	return true
}

// end forgets task id.
func (w *workers) end(id TaskID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.held, id)
}

// cancel cancels task id, if this pool holds it: the running attempt's
// context, or the start of a task that waits for a worker.
func (w *workers) cancel(id TaskID) bool {
	w.mu.Lock()
	h, ok := w.held[id]
	var c context.CancelCauseFunc
	if ok {
		c = h.cancel
		h.cancelled = c == nil
	}
	w.mu.Unlock()
	if c != nil {
		c(ErrTaskCancelled)
	}
	return ok
}

// heldIDs returns the tasks the pool holds.
func (w *workers) heldIDs() []TaskID {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := make([]TaskID, 0, len(w.held))
	for id := range w.held {
		ids = append(ids, id)
	}
	return ids
}

// count adds a finished attempt to the heartbeat's counters.
func (w *workers) count(v verdict) {
	switch v {
	case verdictDone:
		w.done.Add(1)
	case verdictFailed:
		w.failed.Add(1)
	case verdictRetry:
		w.retried.Add(1)
	}
}

// run is one worker: it runs claimed tasks until the claimer closes jobs.
// softCtx is cancelled by the soft stop: a task that has not started by
// then is released at once, without using an attempt; workCtx is
// cancelled by a hard stop.
func (w *workers) run(softCtx, workCtx context.Context) {
	for rec := range w.jobs {
		switch {
		case workCtx.Err() != nil:
			w.release(rec, context.Cause(workCtx))
		case softCtx.Err() != nil:
			w.release(rec, context.Cause(softCtx))
		default:
			w.finish(workCtx, w.execute(workCtx, rec))
		}
	}
}

// release gives back a task that was claimed but not started: Ready again,
// without using an attempt.
func (w *workers) release(rec *TaskRecord, cause error) {
	w.end(rec.ID)
	w.finish(context.Background(), attempt{rec: rec, interrupted: true, err: cause})
}

// finish records how attempt a ended and gives its slot back.
func (w *workers) finish(ctx context.Context, a attempt) {
	d := decide(a, w.retention, backoffOf(a.task), time.Now())
	w.logDecision(ctx, a, d)
	w.count(d.verdict)
	w.results <- d.change
	if a.runFor > 0 {
		w.slots.ran(a.runFor)
	}
	w.slots.release()
}

// execute runs one attempt of rec with its timeout, recovering panics.
func (w *workers) execute(workCtx context.Context, rec *TaskRecord) attempt {
	start := time.Now()
	view := *rec // the task's copy: what it does to it cannot change how the attempt finishes
	cancelCtx, cancelAttempt := context.WithCancelCause(contextWithRecord(workCtx, &view))
	defer cancelAttempt(nil)
	if !w.begin(rec.ID, cancelAttempt) {
		w.end(rec.ID)
		return attempt{rec: rec, cancelled: true, err: ErrTaskCancelled}
	}
	// The timeout starts now, not when the task was claimed.
	ctx, cancel := context.WithTimeoutCause(cancelCtx, rec.Timeout, ErrTaskTimeout)
	task, stack, err := w.runTask(ctx, rec, &view)
	w.end(rec.ID)
	cause := context.Cause(ctx)
	a := attempt{
		rec: rec, task: task, err: err, stack: stack, runFor: time.Since(start),
		timedOut:    errors.Is(cause, ErrTaskTimeout),
		cancelled:   errors.Is(cause, ErrTaskCancelled),
		interrupted: workCtx.Err() != nil,
	}
	cancel()
	return a
}

// runTask decodes and runs one task through the middleware; a panic in
// Run or in a middleware becomes an error wrapping ErrTaskPanicked, with the
// stack. view is the task's copy of rec.
func (w *workers) runTask(ctx context.Context, rec, view *TaskRecord) (task Task, stack string, err error) {
	task, err = w.reg.decode(rec.Name, rec.Payload)
	if err != nil {
		return nil, "", err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrTaskPanicked, r)
			stack = string(debug.Stack())
		}
	}()
	return task, "", runChain(ctx, w.mw, task, view, func(ctx context.Context) error { return task.Run(ctx, w.queue) })
}

// backoffOf returns task's Backoff for decide. A task that did not decode
// (nil), or whose Backoff panics, gets ExponentialBackoff.
func backoffOf(task Task) func(int) time.Duration {
	return func(retries int) (d time.Duration) {
		if task == nil {
			return ExponentialBackoff(retries)
		}
		defer func() {
			if recover() != nil {
				d = ExponentialBackoff(retries)
			}
		}()
		return task.Backoff(retries)
	}
}

func (w *workers) logDecision(ctx context.Context, a attempt, d decision) {
	rec := a.rec
	switch d.verdict {
	case verdictDone:
		if w.log.Enabled(ctx, slog.LevelDebug) {
			w.log.Debug("backie: task done", "task_id", rec.ID, "task_name", rec.Name,
				"attempt", rec.Attempt, "duration", a.runFor)
		}
		return
	case verdictCancelled:
		w.log.Info("backie: task cancelled", "task_id", rec.ID, "task_name", rec.Name, "attempt", rec.Attempt)
		return
	case verdictSnoozed:
		if w.log.Enabled(ctx, slog.LevelDebug) {
			w.log.Debug("backie: task snoozed", "task_id", rec.ID, "task_name", rec.Name, "for", d.delay)
		}
		return
	}
	log := w.log.With("task_id", rec.ID, "task_name", rec.Name, "retries", rec.Retries, "attempt", rec.Attempt)
	switch d.verdict {
	case verdictReleased:
		log.Info("backie: task interrupted by shutdown, released", "error", a.err)
	case verdictRetry:
		log.Warn("backie: task failed, will retry", "error", d.info.Message, "kind", d.info.Kind, "backoff", d.delay)
	case verdictFailed:
		log.Error("backie: task failed for good", "error", d.info.Message, "kind", d.info.Kind,
			"permanent", d.info.Permanent)
	}
}
