package backie

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Defaults of Config.
const (
	WorkersDefault            = 10
	PollIntervalDefault       = time.Second
	ShutdownGraceDefault      = 10 * time.Second
	RescueIntervalDefault     = 30 * time.Second
	RescueMarginDefault       = 30 * time.Second
	FinishTimeoutDefault      = 10 * time.Second
	HeartbeatIntervalDefault  = 2 * time.Second
	HeartbeatTimeoutDefault   = 10 * time.Second
	CleanupDoneAfterDefault   = 24 * time.Hour
	CleanupFailedAfterDefault = 7 * 24 * time.Hour
)

// Claim-ahead settings (Config.ClaimAhead).
const (
	// ClaimAheadDefault, as Config.ClaimAhead, holds up to twice the
	// workers' number of claimed tasks for the workers, and at least 200.
	// It is the default (the zero value).
	ClaimAheadDefault = 0
	// NoClaimAhead, as Config.ClaimAhead, claims only for free workers.
	NoClaimAhead = -1
)

// KeepForever, as Config.CleanupDoneAfter or CleanupFailedAfter, keeps
// finished tasks until they are removed by hand (0 means the default).
const KeepForever time.Duration = -1

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
	// PollInterval is how often the pool looks for due tasks when nothing
	// told it of one: tasks scheduled for later and retries are otherwise
	// found by a notification, or by the pool's own look ahead when it runs
	// out of due tasks, and with notifications off only by polling.
	// Defaults to PollIntervalDefault (1s).
	PollInterval time.Duration
	// DisableNotifications turns off LISTEN/NOTIFY, which otherwise wakes
	// the pool within a millisecond of a new task, or when a new task
	// scheduled for later is due. Turn it off behind PgBouncer in
	// transaction pooling mode, where LISTEN does not work; the pool then
	// finds tasks by polling. Defaults to false.
	DisableNotifications bool
	// ShutdownGrace bounds the graceful stop that begins when the context
	// given to Start is cancelled: running tasks get this long to finish
	// before their contexts are cancelled and unfinished tasks are released
	// back to Ready. Defaults to ShutdownGraceDefault (10s).
	ShutdownGrace time.Duration
	// TaskTimeout, when set, replaces the timeout of every task this pool
	// runs (each task's own Timeout otherwise). Defaults to 0.
	TaskTimeout time.Duration
	// RescueInterval is how often the leader looks for tasks Running for
	// longer than their timeout plus RescueMargin (a Run that ignores its
	// context, a pool that ran under an older release). The tasks of a pool
	// that stops heartbeating come back sooner, within a few heartbeats.
	// Defaults to RescueIntervalDefault (30s).
	RescueInterval time.Duration
	// RescueMargin is how long past its timeout a Running task must be
	// before the leader takes it back and retries it. Defaults to
	// RescueMarginDefault (30s).
	RescueMargin time.Duration
	// FinishTimeout bounds each attempt to write finished tasks during a
	// stop; while the pool runs, failed writes are retried until they
	// succeed. Defaults to FinishTimeoutDefault (10s).
	FinishTimeout time.Duration
	// HeartbeatInterval is how often the pool renews its entry in
	// backie_processes and takes part in the election of the leader.
	// Defaults to HeartbeatIntervalDefault (2s).
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long the pool may go without renewing its
	// entry before the leader counts it as dead and takes its tasks back,
	// and how long a leader holds the leadership without renewing it. It
	// must be longer than HeartbeatInterval. Defaults to
	// HeartbeatTimeoutDefault (10s).
	HeartbeatTimeout time.Duration
	// CleanupDoneAfter is how long Done tasks (kept by KeepAll) stay before
	// the leader deletes them; KeepForever keeps them. Defaults to
	// CleanupDoneAfterDefault (24h). The leader's own Config counts.
	CleanupDoneAfter time.Duration
	// CleanupFailedAfter is how long Failed and Cancelled tasks stay before
	// the leader deletes them; KeepForever keeps them. Defaults to
	// CleanupFailedAfterDefault (7 days).
	CleanupFailedAfter time.Duration
	// Periodic lists tasks the pool enqueues on a schedule (see
	// PeriodicTask). Every pool that lists one takes part, and each tick
	// is enqueued once. Defaults to none.
	Periodic []PeriodicTask
	// Middleware wraps every attempt the pool runs, the first outermost
	// (see RunMiddleware). Defaults to none.
	Middleware []RunMiddleware
	// ClaimAhead is how many claimed tasks may wait, at most, for a free
	// worker, so that a worker that finishes starts its next task at once
	// instead of waiting for a claim's round trip, and claims are batches.
	// The pool keeps fewer: what its workers finish in about four claim
	// round trips, at the mean duration of their recent attempts (at least
	// one task), so that a pool of long tasks does not keep them from the
	// other pools. Waiting tasks are held by the pool like running ones
	// (State Running; a crash takes them back the same way); their timeout
	// starts when they start; a cancel removes them; a stop releases them
	// at once, without using an attempt. A task of a higher priority
	// enqueued meanwhile runs after them. NoClaimAhead turns it off.
	// Defaults to twice the workers, at least 200 (ClaimAheadDefault).
	ClaimAhead int
	// Logger receives the pool's logs. Defaults to slog.Default().
	Logger *slog.Logger
}

// withDefaults validates c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Workers < 0:
		return bad("Workers is %d, want >= 0", c.Workers)
	case c.ClaimAhead < NoClaimAhead:
		return bad("ClaimAhead is %d, want >= 0, or NoClaimAhead", c.ClaimAhead)
	case !c.Retention.valid():
		return bad("unknown Retention %v", c.Retention)
	case c.PollInterval < 0, c.ShutdownGrace < 0, c.TaskTimeout < 0, c.RescueInterval < 0, c.RescueMargin < 0,
		c.FinishTimeout < 0, c.HeartbeatInterval < 0, c.HeartbeatTimeout < 0,
		c.CleanupDoneAfter < 0 && c.CleanupDoneAfter != KeepForever,
		c.CleanupFailedAfter < 0 && c.CleanupFailedAfter != KeepForever:
		return bad("durations must not be negative (but KeepForever)")
	}
	for _, t := range c.TaskTypes {
		if err := validTaskType(t); err != nil {
			return c, fmt.Errorf("%w: TaskTypes: %q: %w", ErrInvalidConfig, t, err)
		}
	}
	setDefault(&c.Workers, WorkersDefault)
	switch c.ClaimAhead {
	case ClaimAheadDefault:
		c.ClaimAhead = max(2*c.Workers, 200)
	case NoClaimAhead:
		c.ClaimAhead = 0
	}
	setDefault(&c.PollInterval, PollIntervalDefault)
	setDefault(&c.ShutdownGrace, ShutdownGraceDefault)
	setDefault(&c.RescueInterval, RescueIntervalDefault)
	setDefault(&c.RescueMargin, RescueMarginDefault)
	setDefault(&c.FinishTimeout, FinishTimeoutDefault)
	setDefault(&c.HeartbeatInterval, HeartbeatIntervalDefault)
	setDefault(&c.HeartbeatTimeout, HeartbeatTimeoutDefault)
	setDefault(&c.CleanupDoneAfter, CleanupDoneAfterDefault)
	setDefault(&c.CleanupFailedAfter, CleanupFailedAfterDefault)
	if c.HeartbeatTimeout <= c.HeartbeatInterval {
		return bad("HeartbeatTimeout (%v) must be longer than HeartbeatInterval (%v)", c.HeartbeatTimeout, c.HeartbeatInterval)
	}
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

// resultsPerWorker sizes the completer's input: workers and the rescuer
// rarely wait for it to take a result.
const resultsPerWorker = 2

// WorkerPool runs tasks from a PgQueue on a fixed number of goroutine
// workers. Many pools, in many processes, can share one table: a task is
// never handed to two workers at once.
//
// Start wires its parts, each a goroutine (or several) of its own: the
// claimer claims tasks for free workers, the workers run them, the
// completer writes how they ended, the listener wakes the claimer on
// notifications, the rescuer takes back tasks of lost workers, and the
// pool's process entry heartbeats and, when elected, leads maintenance.
type WorkerPool struct {
	q        *PgQueue
	cfg      Config
	log      *slog.Logger
	types    []string // nil: every type
	periodic []periodicTask

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
// returns an error wrapping ErrInvalidConfig if cfg or q cannot work,
// including when q's registry is empty.
func NewWorkerPool(q *PgQueue, cfg Config) (*WorkerPool, error) {
	if q == nil || q.pool == nil || q.reg == nil {
		return nil, fmt.Errorf("backie: new worker pool: %w: needs a PgQueue made by NewPgQueue", ErrInvalidConfig)
	}
	if q.reg.Len() == 0 {
		return nil, fmt.Errorf("backie: new worker pool: %w: the registry is empty: register the tasks before creating the pool", ErrInvalidConfig)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("backie: new worker pool: %w", err)
	}
	periodic, err := checkPeriodic(cfg.Periodic, q.reg)
	if err != nil {
		return nil, fmt.Errorf("backie: new worker pool: %w", err)
	}
	p := &WorkerPool{q: q, cfg: cfg, log: cfg.Logger.With("component", "backie"), periodic: periodic,
		done: make(chan struct{})}
	for _, t := range cfg.TaskTypes {
		p.types = append(p.types, string(t))
	}
	// Each type once: the claim of a pool serving a few types reads each
	// type's tasks once.
	slices.Sort(p.types)
	p.types = slices.Compact(p.types)
	return p, nil
}

// Config returns the pool's configuration with its defaults filled in.
func (p *WorkerPool) Config() Config { return p.cfg }

// Start checks that the tables exist and starts the workers, then returns.
// Cancelling ctx begins a graceful stop bounded by Config.ShutdownGrace
// (see Shutdown); Wait or Done tell when it is complete. Values of ctx
// reach the tasks' contexts. The names the pool claims are those registered
// when Start is called. Start fails with ErrPoolStarted on a second call,
// ErrPoolStopped after a stop, ErrMissingTable before the migrations.
func (p *WorkerPool) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.state {
	case poolRunning:
		return fmt.Errorf("backie: start worker pool: %w", ErrPoolStarted)
	case poolStopping, poolStopped:
		return fmt.Errorf("backie: start worker pool: %w", ErrPoolStopped)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("backie: start worker pool: %w", err)
	}
	if _, err := p.q.pool.Exec(ctx, sqlCheckTables); err != nil {
		return opError("start worker pool", err)
	}
	names := p.q.reg.Names()
	db, log := p.q.pool, p.log
	host, _ := os.Hostname()
	s := newSlots(p.cfg.Workers, p.cfg.ClaimAhead)
	work := &workers{reg: p.q.reg, queue: p.q, mw: p.cfg.Middleware, log: log, retention: p.cfg.Retention, slots: s}
	maint := &maintenance{db: db, log: log, reg: p.q.reg, retention: p.cfg.Retention, cfg: p.cfg}
	proc := &process{db: db, log: log, id: uuid.Must(uuid.NewV7()), host: host, pid: os.Getpid(),
		names: names, types: p.types, workers: p.cfg.Workers,
		interval: p.cfg.HeartbeatInterval, timeout: p.cfg.HeartbeatTimeout, lead: maint.lead,
		running: func() int { return min(p.cfg.Workers, int(s.total)-s.available()) },
		finished: func() (int64, int64, int64) {
			return work.done.Swap(0), work.failed.Swap(0), work.retried.Swap(0)
		}}
	// The pool is registered before it claims: a task is only ever held by
	// a pool the leader can see.
	if err := proc.register(ctx); err != nil {
		return opError("start worker pool: register", err)
	}
	var periodic *periodic
	if len(p.periodic) > 0 {
		periodic = newPeriodic(p.q, log, p.periodic)
		if err := periodic.start(ctx); err != nil {
			_, _ = db.Exec(context.WithoutCancel(ctx), sqlUnregisterProcess, proc.id)
			return opError("start worker pool: periodic tasks", err)
		}
	}

	base := context.WithoutCancel(ctx)
	claimCtx, claimCancel := context.WithCancelCause(base)
	workCtx, workCancel := context.WithCancelCause(base)
	runCtx, runCancel := context.WithCancel(base) // ends when the workers are done
	lifeCtx, lifeCancel := context.WithCancel(base)
	p.claimCancel, p.workCancel = claimCancel, workCancel
	p.state = poolRunning

	notified := !p.cfg.DisableNotifications
	claim := newClaimer(db, log, s, p.cfg.ClaimAhead, names, p.types, proc.id, p.cfg.TaskTimeout, p.cfg.PollInterval,
		notified)
	claim.hold, claim.release = work.hold, work.release
	results := make(chan rowChange, resultsPerWorker*p.cfg.Workers)
	work.jobs, work.results = claim.jobs, results
	complete := &completer{db: db, log: log, results: results, finishTimeout: p.cfg.FinishTimeout,
		lingerFor: max(completeLingerFor, p.cfg.Workers/2), stopping: p.stopping, dueIn: claim.dueIn,
		written: p.q.afterFinish}

	var producers sync.WaitGroup // everything that sends results
	for range p.cfg.Workers {
		producers.Go(func() { work.run(claimCtx, workCtx) })
	}
	var claimers sync.WaitGroup // everything that stops with the soft stop
	claimers.Go(func() { claim.run(claimCtx) })
	if periodic != nil {
		claimers.Go(func() { periodic.run(claimCtx) })
	}
	var watchers sync.WaitGroup // everything that serves running tasks
	if notified {
		// After a (re)connect the claimer claims at once and looks ahead,
		// and the running tasks' cancellations are checked: notifications
		// may have come while nobody listened.
		listen := &listener{db: db, log: log,
			connected: func() {
				claim.pollNow()
				checkCancelled(runCtx, db, log, work)
			},
			handle: func(payload string) { p.notified(payload, claim, work) }}
		watchers.Go(func() { listen.run(runCtx) })
	} else {
		watchers.Go(func() { pollCancelled(runCtx, db, log, work, min(p.cfg.PollInterval, cancelPollMax)) })
	}
	var background sync.WaitGroup
	background.Go(func() { complete.run(base) })
	background.Go(func() { proc.run(lifeCtx) })
	go func() {
		claimers.Wait()
		producers.Wait()
		runCancel()
		watchers.Wait()
		close(results)
		lifeCancel() // the completer drains results; the process entry goes last
		background.Wait()
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
	p.log.Info("backie: worker pool started", "workers", p.cfg.Workers, "task_names", names,
		"task_types", p.types, "retention", p.cfg.Retention.String(), "process_id", proc.id)
	return nil
}

// notified handles a notification on the tables' channel: a new task
// ("t<ms>:<type>"), a cancel ("c<id>"), a pause or resume ("p<type>",
// "r<type>").
func (p *WorkerPool) notified(payload string, claim *claimer, work *workers) {
	if typ, d, ok := parseTaskNotification(payload); ok {
		if p.types == nil || slices.Contains(p.types, typ) {
			claim.dueIn(d)
		}
		return
	}
	if payload == "" {
		return
	}
	switch kind, rest := payload[0], payload[1:]; kind {
	case 'c':
		if id, err := uuid.Parse(rest); err == nil {
			work.cancel(id)
		}
	case 'r':
		if p.types == nil || slices.Contains(p.types, rest) {
			claim.pollNow()
		}
	}
}

func (p *WorkerPool) stopping() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state != poolRunning
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
	return fmt.Errorf("backie: shutdown: %w", ctx.Err())
}

// Wait blocks until the pool has stopped and every goroutine it started has
// exited.
func (p *WorkerPool) Wait() { <-p.done }

// Done returns a channel that is closed when the pool has fully stopped.
func (p *WorkerPool) Done() <-chan struct{} { return p.done }
