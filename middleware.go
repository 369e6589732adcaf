package backie

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
)

// RunMiddleware wraps every attempt of a task in a worker pool
// (Config.Middleware): for tracing, metrics, logging, tenant ids, panics.
// It gets the decoded task, its record (the copy the task sees through
// RecordFromContext: Metadata carries what enqueue middleware stored), and
// next, which runs the middlewares after it and then the task's Run with
// the context it is given. What it returns is what the attempt returned:
// the pool records it as it would Run's. A panic in a middleware fails the
// attempt like a panic in Run (ErrTaskPanicked, with the stack).
//
// The attempt's timeout and cancellation are already in ctx; a middleware
// that returns without calling next skips the task's Run.
type RunMiddleware func(ctx context.Context, task Task, rec *TaskRecord, next func(ctx context.Context) error) error

// EnqueueMiddleware wraps every enqueue of a PgQueue (QueueConfig.Middleware):
// CreateTask, CreateTasks and their …Tx twins, once per call. It gets the
// records about to be stored, validated and with their ids, which it may
// change before it calls next (their Metadata, to carry a trace context or
// a tenant id to the attempts), and next, which runs the middlewares after
// it and then stores the tasks. When next returns, the records hold what
// was stored (for a unique task that was already waiting, the existing
// task's record). Its error is the call's error. A panic in a middleware
// fails the call with ErrMiddlewarePanicked; nothing is stored.
type EnqueueMiddleware func(ctx context.Context, recs []*TaskRecord, next func(ctx context.Context) error) error

// ErrMiddlewarePanicked is returned by an enqueue whose middleware
// panicked.
var ErrMiddlewarePanicked = errors.New("enqueue middleware panicked")

// runChain runs mws around final, the first middleware outermost.
func runChain(ctx context.Context, mws []RunMiddleware, task Task, rec *TaskRecord, final func(context.Context) error) error {
	if len(mws) == 0 {
		return final(ctx)
	}
	return mws[0](ctx, task, rec, func(ctx context.Context) error {
		return runChain(ctx, mws[1:], task, rec, final)
	})
}

// enqueueChain runs mws around final, the first middleware outermost, and
// turns a panic in a middleware into ErrMiddlewarePanicked.
func enqueueChain(ctx context.Context, mws []EnqueueMiddleware, recs []*TaskRecord, final func(context.Context) error) (err error) {
	if len(mws) == 0 {
		return final(ctx)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v\n%s", ErrMiddlewarePanicked, r, debug.Stack())
		}
	}()
	return mws[0](ctx, recs, func(ctx context.Context) error { return enqueueChain(ctx, mws[1:], recs, final) })
}
