package backie

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	WorkersDefault        = 10
	PollIntervalDefault   = time.Second
	ShutdownGraceDefault  = 10 * time.Second
	RescueIntervalDefault = 30 * time.Second
	RescueMarginDefault   = 30 * time.Second
	FinishTimeoutDefault  = 10 * time.Second
)

// Config configures a WorkerPool. Its zero value is valid: ten workers
// running every registered task of every type, RemoveFinished retention.
type Config struct {
	// Workers is how many tasks run at once. Defaults to WorkersDefault (10).
	// Workers do not each hold a database connection: the pool claims and
	// finishes tasks for all of them in batches, on a few connections.
	Workers int
	// TaskTypes limits the pool to tasks of these types. Defaults to every
	// type. Only tasks whose names are registered are ever claimed. A pool
	// of up to 8 types claims through an index per type, so that due tasks
	// of other types do not slow its claims; a pool of more types steps
	// over them.
	TaskTypes []TaskType
	// Retention says which finished tasks stay in the table. Defaults to
	// RemoveFinished.
	Retention RetentionMode
	// PollInterval is how often the pool looks for due tasks when it has
	// not been notified of any (tasks scheduled for later, retries, or when
	// notifications are off). Defaults to PollIntervalDefault (1s).
	PollInterval time.Duration
	// DisableNotifications turns off LISTEN/NOTIFY, which otherwise wakes
	// the pool within a millisecond of a new task. Turn it off behind
	// PgBouncer in transaction pooling mode, where LISTEN does not work;
	// the pool then finds tasks by polling. Defaults to false.
	DisableNotifications bool
	// ShutdownGrace bounds the graceful stop that begins when the context
	// given to Start is cancelled: running tasks get this long to finish
	// before their contexts are cancelled and unfinished tasks are released
	// back to Ready. Defaults to ShutdownGraceDefault (10s).
	ShutdownGrace time.Duration
	// TaskTimeout, when set, replaces the timeout of every task this pool
	// runs (each task's own Timeout otherwise). Defaults to 0.
	TaskTimeout time.Duration
	// RescueInterval is how often the pool looks for tasks left Running by
	// a worker that died. Defaults to RescueIntervalDefault (30s).
	RescueInterval time.Duration
	// RescueMargin is how long past its timeout a Running task must be
	// before it is taken back and retried. Defaults to RescueMarginDefault
	// (30s).
	RescueMargin time.Duration
	// FinishTimeout bounds each attempt to write finished tasks during a
	// stop; while the pool runs, failed writes are retried until they
	// succeed. Defaults to FinishTimeoutDefault (10s).
	FinishTimeout time.Duration
	// Logger receives the pool's logs. Defaults to slog.Default().
	Logger *slog.Logger
}

// withDefaults validates c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("backie: worker pool: %w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Workers < 0:
		return bad("Workers is %d, want >= 0", c.Workers)
	case !c.Retention.valid():
		return bad("unknown Retention %v", c.Retention)
	case c.PollInterval < 0, c.ShutdownGrace < 0, c.TaskTimeout < 0, c.RescueInterval < 0, c.RescueMargin < 0, c.FinishTimeout < 0:
		return bad("durations must not be negative")
	}
	for _, t := range c.TaskTypes {
		if t == "" {
			return bad("empty task type in TaskTypes")
		}
	}
	setDefault(&c.Workers, WorkersDefault)
	setDefault(&c.PollInterval, PollIntervalDefault)
	setDefault(&c.ShutdownGrace, ShutdownGraceDefault)
	setDefault(&c.RescueInterval, RescueIntervalDefault)
	setDefault(&c.RescueMargin, RescueMarginDefault)
	setDefault(&c.FinishTimeout, FinishTimeoutDefault)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// discardLogger is for callers that want no logs.
var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// DiscardLogger returns a logger that drops everything, for Config.Logger.
func DiscardLogger() *slog.Logger { return discardLogger }

// errHardStop is the cause of the cancellation of running tasks' contexts
// when the shutdown grace period runs out.
var errHardStop = errors.New("backie: worker pool hard stop")

// errSoftStop is the cause of the end of claiming.
var errSoftStop = errors.New("backie: worker pool stopping")

// WorkerPool runs tasks from a PgQueue on a fixed number of goroutine
// workers. Many pools, in many processes, can share one table: a task is
// never handed to two workers at once.
type WorkerPool struct {
	q     *PgQueue
	cfg   Config
	log   *slog.Logger
	names []string
	types []string // nil: every type

	free      atomic.Int64  // workers without a task
	slotFreed chan struct{} // a worker became free (capacity 1)
	wake      chan struct{} // a task may be due: notification (capacity 1)
	jobs      chan *TaskRecord
	results   chan result

	mu          sync.Mutex
	state       poolState
	claimCancel context.CancelCauseFunc
	workCancel  context.CancelCauseFunc
	done        chan struct{}
}

type poolState int

const (
	poolNew poolState = iota
	poolRunning
	poolStopping
	poolStopped
)

// NewWorkerPool returns a pool that runs the tasks of q's registry. It
// returns an error wrapping ErrInvalidConfig if cfg or q cannot work.
func NewWorkerPool(q *PgQueue, cfg Config) (*WorkerPool, error) {
	if q == nil || q.pool == nil || q.reg == nil {
		return nil, fmt.Errorf("backie: worker pool: %w: needs a PgQueue made by NewPgQueue", ErrInvalidConfig)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &WorkerPool{
		q:         q,
		cfg:       cfg,
		log:       cfg.Logger.With("component", "backie"),
		slotFreed: make(chan struct{}, 1),
		wake:      make(chan struct{}, 1),
		jobs:      make(chan *TaskRecord, cfg.Workers),
		results:   make(chan result, 2*cfg.Workers),
		done:      make(chan struct{}),
	}
	for _, t := range cfg.TaskTypes {
		p.types = append(p.types, string(t))
	}
	// Each type once: the claim of a pool serving a few types reads each
	// type's tasks once.
	slices.Sort(p.types)
	p.types = slices.Compact(p.types)
	p.free.Store(int64(cfg.Workers))
	return p, nil
}

// Config returns the pool's configuration with its defaults filled in.
func (p *WorkerPool) Config() Config { return p.cfg }

// Start checks that the table exists and starts the workers, then returns.
// Cancelling ctx begins a graceful stop bounded by Config.ShutdownGrace
// (see Shutdown); Wait or Done tell when it is complete. Values of ctx
// reach the tasks' contexts. Start fails with ErrPoolStarted on a second
// call, ErrPoolStopped after a stop, ErrMissingTable before migrations,
// ErrTaskNotRegistered when the registry is empty.
func (p *WorkerPool) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.state {
	case poolRunning:
		return ErrPoolStarted
	case poolStopping, poolStopped:
		return ErrPoolStopped
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("backie: start worker pool: %w", err)
	}
	p.names = p.q.reg.Names()
	if len(p.names) == 0 {
		return fmt.Errorf("backie: start worker pool: %w: the registry is empty", ErrTaskNotRegistered)
	}
	if _, err := p.q.pool.Exec(ctx, `SELECT 1 FROM backie_tasks LIMIT 0`); err != nil {
		return interpretError("backie: start worker pool", err)
	}

	base := context.WithoutCancel(ctx)
	claimCtx, claimCancel := context.WithCancelCause(base)
	workCtx, workCancel := context.WithCancelCause(base)
	p.claimCancel, p.workCancel = claimCancel, workCancel
	p.state = poolRunning

	var producers sync.WaitGroup // everything that sends results
	for range p.cfg.Workers {
		producers.Go(func() { p.workLoop(workCtx) })
	}
	producers.Go(func() { p.rescueLoop(claimCtx) })
	var claimers sync.WaitGroup
	claimers.Go(func() { p.claimLoop(claimCtx) })
	if !p.cfg.DisableNotifications {
		claimers.Go(func() { p.listenLoop(claimCtx) })
	}
	completed := make(chan struct{})
	go func() {
		defer close(completed)
		p.completeLoop(base)
	}()
	go func() {
		claimers.Wait()
		producers.Wait()
		close(p.results)
		<-completed
		p.mu.Lock()
		p.state = poolStopped
		p.mu.Unlock()
		workCancel(errHardStop)
		p.log.Info("backie: worker pool stopped")
		close(p.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			graceCtx, cancel := context.WithTimeout(base, p.cfg.ShutdownGrace)
			defer cancel()
			_ = p.Shutdown(graceCtx)
		case <-p.done:
		}
	}()
	p.log.Info("backie: worker pool started", "workers", p.cfg.Workers, "task_names", p.names,
		"task_types", p.types, "retention", p.cfg.Retention.String())
	return nil
}

// Shutdown stops the pool gracefully: it stops claiming tasks and waits for
// the running ones to finish and be recorded. If ctx ends first, running
// tasks' contexts are cancelled (a hard stop); tasks that then return
// unfinished are released back to Ready without using an attempt, and
// Shutdown returns ctx's error once every goroutine has exited. A task that
// ignores its context delays the return. Shutdown is safe to call more than
// once and from many goroutines; before Start it only marks the pool
// stopped.
func (p *WorkerPool) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	switch p.state {
	case poolNew:
		p.state = poolStopped
		close(p.done)
		p.mu.Unlock()
		return nil
	case poolRunning:
		p.state = poolStopping
		p.log.Info("backie: worker pool stopping")
		p.claimCancel(errSoftStop)
	}
	p.mu.Unlock()

	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
	}
	p.log.Warn("backie: shutdown grace ended, cancelling running tasks")
	p.workCancel(errHardStop)
	<-p.done
	return ctx.Err()
}

// Wait blocks until the pool has stopped and every goroutine it started has
// exited.
func (p *WorkerPool) Wait() { <-p.done }

// Done returns a channel that is closed when the pool has fully stopped.
func (p *WorkerPool) Done() <-chan struct{} { return p.done }

// releaseSlot marks a worker free and wakes the claimer.
func (p *WorkerPool) releaseSlot() {
	p.free.Add(1)
	signal(p.slotFreed)
}

// signal does a non-blocking send on a channel of capacity 1.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// sleep waits d or until ctx ends, reusing t; it reports whether ctx is
// still live.
func sleep(ctx context.Context, t *time.Timer, d time.Duration) bool {
	t.Reset(d)
	select {
	case <-ctx.Done():
		t.Stop()
		return false
	case <-t.C:
		return true
	}
}
