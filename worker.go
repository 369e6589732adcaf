package backie

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"
)

// resultKind says how a finished attempt changes its task's row.
type resultKind int16

const (
	resultDone    resultKind = 1 // success, row kept (KeepAll)
	resultFailed  resultKind = 2 // out of retries, row kept
	resultRetry   resultKind = 3 // failed, scheduled again after a backoff
	resultRelease resultKind = 4 // not run to the end (hard stop): back to Ready
	resultDelete  resultKind = 5 // finished, row removed (retention)
)

// result is one finished attempt, written by the completer.
type result struct {
	id        TaskID
	attempt   int32
	kind      resultKind
	errInfo   []byte // JSON ErrorInfo; nil clears error_info
	backoffMS int64  // resultRetry: delay before the next attempt
}

// workLoop runs claimed tasks until the claimer closes jobs.
func (p *WorkerPool) workLoop(workCtx context.Context) {
	for rec := range p.jobs {
		var res result
		if workCtx.Err() != nil {
			res = result{id: rec.ID, attempt: int32(rec.Attempt), kind: resultRelease}
		} else {
			res = p.execute(workCtx, rec)
		}
		p.results <- res
		p.releaseSlot()
	}
}

// execute runs one attempt of rec, contained: its own timeout, panics
// recovered, and an outcome for every path.
func (p *WorkerPool) execute(workCtx context.Context, rec *TaskRecord) result {
	start := time.Now()
	view := *rec // the task's copy: what it does to it cannot change how the attempt finishes
	ctx, cancel := context.WithTimeoutCause(contextWithRecord(workCtx, &view), rec.Timeout, ErrTaskTimeout)
	task, stack, err := p.runTask(ctx, rec)
	timedOut := errors.Is(context.Cause(ctx), ErrTaskTimeout)
	cancel()
	if err == nil {
		if p.log.Enabled(workCtx, slog.LevelDebug) {
			p.log.Debug("backie: task done", "task_id", rec.ID, "task_name", rec.Name,
				"attempt", rec.Attempt, "duration", time.Since(start))
		}
		if p.cfg.Retention.keepsSuccess() {
			return result{id: rec.ID, attempt: int32(rec.Attempt), kind: resultDone}
		}
		return result{id: rec.ID, attempt: int32(rec.Attempt), kind: resultDelete}
	}
	log := p.log.With("task_id", rec.ID, "task_name", rec.Name, "retries", rec.Retries, "attempt", rec.Attempt)
	if workCtx.Err() != nil && stack == "" && !timedOut {
		log.Info("backie: task interrupted by shutdown, released", "error", err)
		return result{id: rec.ID, attempt: int32(rec.Attempt), kind: resultRelease}
	}

	info := ErrorInfo{Message: err.Error(), Kind: "error", Stack: stack, Attempt: rec.Retries, At: time.Now().UTC()}
	switch {
	case stack != "":
		info.Kind = "panic"
	case timedOut:
		info.Kind = "timeout"
		if !errors.Is(err, ErrTaskTimeout) {
			info.Message = fmt.Sprintf("%v after %v: %v", ErrTaskTimeout, rec.Timeout, err)
		}
	case errors.Is(err, ErrDecodePayload), errors.Is(err, ErrTaskNotRegistered):
		info.Kind = "decode"
	}
	return p.failure(log, rec, task, info)
}

// failure turns a failed attempt into a retry, or a final failure when the
// task is out of retries. task may be nil (payload did not decode).
func (p *WorkerPool) failure(log *slog.Logger, rec *TaskRecord, task Task, info ErrorInfo) result {
	// jsonb refuses \u0000: a NUL in an error must not make the write fail.
	info.Message = strings.ReplaceAll(info.Message, "\x00", "\uFFFD")
	info.Stack = strings.ReplaceAll(info.Stack, "\x00", "\uFFFD")
	errJSON, jerr := json.Marshal(info)
	if jerr != nil {
		errJSON, _ = json.Marshal(ErrorInfo{Message: info.Message, Kind: info.Kind, Attempt: info.Attempt, At: info.At})
	}
	res := result{id: rec.ID, attempt: int32(rec.Attempt), errInfo: errJSON}
	if rec.Retries < rec.MaxRetries {
		backoff := ExponentialBackoff(rec.Retries)
		if task != nil {
			backoff = safeBackoff(task, rec.Retries)
		}
		res.kind, res.backoffMS = resultRetry, backoff.Milliseconds()
		log.Warn("backie: task failed, will retry", "error", info.Message, "kind", info.Kind, "backoff", backoff)
		return res
	}
	log.Error("backie: task failed for good", "error", info.Message, "kind", info.Kind)
	res.kind = resultFailed
	if !p.cfg.Retention.keepsFailure() {
		res.kind = resultDelete
	}
	return res
}

// runTask decodes and runs one task; a panic in either becomes an error
// wrapping ErrTaskPanicked, with the stack.
func (p *WorkerPool) runTask(ctx context.Context, rec *TaskRecord) (task Task, stack string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrTaskPanicked, r)
			stack = string(debug.Stack())
		}
	}()
	task, err = p.q.reg.decode(rec.Name, rec.Payload)
	if err != nil {
		return nil, "", err
	}
	return task, "", task.Run(ctx, p.q)
}

// safeBackoff calls task.Backoff, treating a panic or a negative value as
// the default backoff.
func safeBackoff(task Task, retries int) (d time.Duration) {
	defer func() {
		if recover() != nil {
			d = ExponentialBackoff(retries)
		}
	}()
	if d = task.Backoff(retries); d < 0 {
		d = 0
	}
	return d
}
