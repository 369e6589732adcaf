package benchkit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backie-go/backie"
)

// queue returns a queue on db with cfg's enqueue middleware.
func (e *Env) queue(db *pgxpool.Pool, cfg Config) *backie.PgQueue {
	return backie.NewPgQueue(db, e.Registry, backie.QueueConfig{Middleware: cfg.EnqueueMiddleware})
}

// drain pre-inserts N tasks (untimed), then times WorkerPools running them
// all, until every pool has stopped and written its results.
func (e *Env) drain(ctx context.Context, cfg Config) (Metrics, error) {
	q := e.queue(e.Pool, cfg)
	n := int64(cfg.N)
	if err := e.insertOther(ctx, q, cfg, n); err != nil {
		return Metrics{}, err
	}
	var inserted atomic.Int64
	prog := startProgress(e.Progress, e.ProgressEvery, "insert", n, inserted.Load)
	insertStart := time.Now()
	err := insertBatches(ctx, q, 0, n, cfg.BatchSize, cfg.typeNames(), nil, &inserted)
	insertSeconds := time.Since(insertStart).Seconds()
	prog.Stop()
	if err != nil {
		return Metrics{}, err
	}
	// A backlog that sat a while has been vacuumed and analyzed.
	if err := e.vacuum(ctx); err != nil {
		return Metrics{}, err
	}

	s := newSink(n, cfg.Work, nil)
	prog = startProgress(e.Progress, e.ProgressEvery, "drain", n, s.done.Load)
	defer prog.Stop()
	start := time.Now()
	rp, err := e.startPools(ctx, cfg, s)
	if err != nil {
		return Metrics{}, err
	}
	waitErr := waitDone(ctx, s, cfg.StallTimeout)
	rp.stop()
	elapsed := time.Since(start)
	prog.Stop()
	if err := errors.Join(waitErr, s.check()); err != nil {
		return Metrics{}, err
	}
	if err := e.checkFinished(ctx, cfg.Retention, n, cfg.Other); err != nil {
		return Metrics{}, err
	}
	return Metrics{
		Seconds:           elapsed.Seconds(),
		TasksPerSec:       float64(n) / elapsed.Seconds(),
		MiddleTasksPerSec: s.middleRate(),
		LowRan:            s.lowRan.Load(),
		InsertSeconds:     insertSeconds,
	}, nil
}

// insertOther stores cfg.Other due tasks of a type no pool serves,
// numbered from first, before the tasks of the run: every claim that starts
// from the head of the queue meets them.
func (e *Env) insertOther(ctx context.Context, q *backie.PgQueue, cfg Config, first int64) error {
	var inserted atomic.Int64
	if cfg.Other > 0 {
		if err := insertBatches(ctx, q, first, first+int64(cfg.Other), cfg.BatchSize, []string{otherType}, nil, &inserted); err != nil {
			return err
		}
	}
	for from := int64(0); from < int64(cfg.Low); from += int64(cfg.BatchSize) {
		tasks := make([]backie.Task, 0, cfg.BatchSize)
		for i := from; i < min(from+int64(cfg.BatchSize), int64(cfg.Low)); i++ {
			tasks = append(tasks, &Task{Seq: -1, Type: lowType, Low: true})
		}
		if _, err := q.CreateTasks(ctx, tasks, backie.WithPriority(backie.PriorityLowest)); err != nil {
			return fmt.Errorf("create low tasks: %w", err)
		}
	}
	return nil
}

// enqueue times N CreateTask calls from Goroutines goroutines.
func (e *Env) enqueue(ctx context.Context, cfg Config) (Metrics, error) {
	q := e.queue(e.Pool, cfg)
	n := int64(cfg.N)
	calls := NewRecorder()
	var next, done atomic.Int64
	types := cfg.typeNames()
	prog := startProgress(e.Progress, e.ProgressEvery, "enqueue", n, done.Load)
	defer prog.Stop()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.Goroutines {
		wg.Go(func() {
			for {
				seq := next.Add(1) - 1
				if seq >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if _, err := q.CreateTask(ctx, newTask(seq, types)); err != nil {
					cancel(fmt.Errorf("create task %d: %w", seq, err))
					return
				}
				calls.Record(time.Since(t0))
				done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	prog.Stop()
	if err := context.Cause(ctx); err != nil {
		return Metrics{}, err
	}
	if err := e.checkStored(ctx, n); err != nil {
		return Metrics{}, err
	}
	return callMetrics(n, elapsed, calls), nil
}

// batch times N tasks enqueued by CreateTasks in batches of BatchSize,
// one call after the other.
func (e *Env) batch(ctx context.Context, cfg Config) (Metrics, error) {
	q := e.queue(e.Pool, cfg)
	n := int64(cfg.N)
	calls := NewRecorder()
	var done atomic.Int64
	prog := startProgress(e.Progress, e.ProgressEvery, "batch", n, done.Load)
	defer prog.Stop()
	start := time.Now()
	err := insertBatches(ctx, q, 0, n, cfg.BatchSize, cfg.typeNames(), calls, &done)
	elapsed := time.Since(start)
	prog.Stop()
	if err != nil {
		return Metrics{}, err
	}
	if err := e.checkStored(ctx, n); err != nil {
		return Metrics{}, err
	}
	return callMetrics(n, elapsed, calls), nil
}

// callMetrics is the result of an enqueue workload: n tasks in elapsed,
// with the latency of each call.
func callMetrics(n int64, elapsed time.Duration, calls *Recorder) Metrics {
	c := calls.Snapshot()
	return Metrics{
		Seconds:     elapsed.Seconds(),
		TasksPerSec: float64(n) / elapsed.Seconds(),
		CallP50MS:   c.P50,
		CallP99MS:   c.P99,
		CallMaxMS:   c.Max,
	}
}

// insertBatches stores tasks from..to-1, spread over types, with
// CreateTasks, size at a time, recording each call's latency in calls (if
// not nil) and counting the tasks stored in done.
func insertBatches(ctx context.Context, q *backie.PgQueue, from, to int64, size int, types []string, calls *Recorder, done *atomic.Int64) error {
	tasks := make([]backie.Task, 0, size)
	for first := from; first < to; first += int64(size) {
		tasks = tasks[:0]
		for seq := first; seq < min(first+int64(size), to); seq++ {
			tasks = append(tasks, newTask(seq, types))
		}
		t0 := time.Now()
		if _, err := q.CreateTasks(ctx, tasks); err != nil {
			return fmt.Errorf("create tasks %d..%d: %w", first, first+int64(len(tasks))-1, err)
		}
		if calls != nil {
			calls.Record(time.Since(t0))
		}
		done.Add(int64(len(tasks)))
	}
	return nil
}

// latency runs the worker pools while Goroutines producers enqueue
// Rate × Duration tasks at a steady Rate, each stamped with its enqueue
// time; Run records the pickup latency. It ends when every task has run.
// With scheduled, each task is due a random delay in [DelayMin, DelayMax]
// after its enqueue (RunAfter), and Run records how late it started after
// its scheduled_at instead.
func (e *Env) latency(ctx context.Context, cfg Config, scheduled bool) (Metrics, error) {
	q := e.queue(e.Pool, cfg)
	total := cfg.latencyTotal()
	if err := e.insertOther(ctx, q, cfg, total); err != nil {
		return Metrics{}, err
	}
	if err := e.vacuum(ctx); err != nil {
		return Metrics{}, err
	}
	hist := NewRecorder()
	s := newSink(total, cfg.Work, hist)
	rp, err := e.startPools(ctx, cfg, s)
	if err != nil {
		return Metrics{}, err
	}
	defer rp.stop()
	prog := startProgress(e.Progress, e.ProgressEvery, "latency", total, s.done.Load)
	defer prog.Stop()

	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		enqueued atomic.Int64
		wg       sync.WaitGroup
		jobs     = make(chan int64, cfg.Goroutines)
		types    = cfg.typeNames()
	)
	for range cfg.Goroutines {
		wg.Go(func() {
			for seq := range jobs {
				enq := time.Now()
				task := newTask(seq, types)
				var opts []backie.CreateOption
				if scheduled {
					task.Sched = true
					opts = append(opts, backie.RunAfter(cfg.DelayMin+rand.N(cfg.DelayMax-cfg.DelayMin+1)))
				} else {
					task.EnqNS = enq.UnixNano()
				}
				if _, err := q.CreateTask(pctx, task, opts...); err != nil {
					cancel(fmt.Errorf("create task %d: %w", seq, err))
					continue // keep draining jobs so the pacer does not block
				}
				enqueued.Add(1)
			}
		})
	}
	start := time.Now()
	interval := float64(time.Second) / cfg.Rate
	timer := time.NewTimer(time.Hour)
	timer.Stop()
pace:
	for seq := range total {
		if d := time.Until(start.Add(time.Duration(float64(seq) * interval))); d > 0 {
			if !sleep(pctx, timer, d) {
				break pace
			}
		}
		select {
		case jobs <- seq:
		case <-pctx.Done():
			break pace
		}
	}
	close(jobs)
	wg.Wait()
	enqueueSeconds := time.Since(start).Seconds()
	if err := context.Cause(pctx); err != nil {
		return Metrics{}, err
	}
	if err := waitDone(ctx, s, cfg.StallTimeout); err != nil {
		return Metrics{}, err
	}
	elapsed := time.Since(start)
	rp.stop()
	prog.Stop()
	if err := s.check(); err != nil {
		return Metrics{}, err
	}
	if err := e.checkFinished(ctx, cfg.Retention, total, cfg.Other); err != nil {
		return Metrics{}, err
	}
	l := hist.Snapshot()
	if l.Count != total {
		return Metrics{}, fmt.Errorf("recorded %d latencies for %d tasks", l.Count, total)
	}
	completed := s.done.Load()
	return Metrics{
		Seconds:        elapsed.Seconds(),
		TasksPerSec:    float64(completed) / elapsed.Seconds(),
		Enqueued:       enqueued.Load(),
		Completed:      completed,
		EnqueueRate:    float64(enqueued.Load()) / enqueueSeconds,
		CompletionRate: float64(completed) / elapsed.Seconds(),
		P50MS:          l.P50,
		P95MS:          l.P95,
		P99MS:          l.P99,
		MaxMS:          l.Max,
		MeanMS:         l.MeanMS,
	}, nil
}

// runningPools are the started WorkerPools of one run.
type runningPools struct {
	cancel context.CancelFunc
	wps    []*backie.WorkerPool
	own    []*pgxpool.Pool
	once   sync.Once
}

// startPools starts cfg.Pools WorkerPools, each with its own PgQueue (and
// its own pgxpool with OwnPgxPool), sharing cfg.Workers workers. The tasks
// find s in their context.
func (e *Env) startPools(ctx context.Context, cfg Config, s *sink) (*runningPools, error) {
	runCtx, cancel := context.WithCancel(s.context(ctx))
	rp := &runningPools{cancel: cancel}
	for i := range cfg.Pools {
		workers := cfg.Workers / cfg.Pools
		if i < cfg.Workers%cfg.Pools {
			workers++
		}
		db := e.Pool
		if cfg.OwnPgxPool {
			if e.OpenPool == nil {
				rp.stop()
				return nil, errors.New("own pgxpool per worker pool: Env.OpenPool is not set")
			}
			own, err := e.OpenPool(ctx)
			if err != nil {
				rp.stop()
				return nil, fmt.Errorf("open pgxpool %d: %w", i, err)
			}
			rp.own = append(rp.own, own)
			db = own
		}
		var types []backie.TaskType
		for _, t := range cfg.typeNames() {
			types = append(types, backie.TaskType(t))
		}
		wp, err := backie.NewWorkerPool(e.queue(db, cfg), backie.Config{
			Workers:              workers,
			TaskTypes:            types,
			Retention:            cfg.Retention,
			PollInterval:         cfg.PollInterval,
			DisableNotifications: cfg.DisableNotifications,
			ClaimAhead:           cfg.ClaimAhead,
			Middleware:           cfg.RunMiddleware,
			Logger:               e.Logger,
		})
		if err == nil {
			err = wp.Start(runCtx)
		}
		if err != nil {
			rp.stop()
			return nil, fmt.Errorf("start worker pool %d: %w", i, err)
		}
		rp.wps = append(rp.wps, wp)
	}
	return rp, nil
}

// stop stops every pool gracefully, waits for them and closes their own
// pgxpools. It is safe to call twice.
func (rp *runningPools) stop() {
	rp.once.Do(func() {
		rp.cancel()
		for _, wp := range rp.wps {
			wp.Wait()
		}
		for _, p := range rp.own {
			p.Close()
		}
	})
}

// waitDone waits until every task of s has run, ctx ends, or no task runs
// for stall.
func waitDone(ctx context.Context, s *sink, stall time.Duration) error {
	const tick = 250 * time.Millisecond
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	last, lastAt := s.done.Load(), time.Now()
	for {
		select {
		case <-s.allDone:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("interrupted with %d of %d tasks run: %w", s.done.Load(), s.target, context.Cause(ctx))
		case now := <-ticker.C:
			if n := s.done.Load(); n != last {
				last, lastAt = n, now
			} else if now.Sub(lastAt) >= stall {
				return fmt.Errorf("stalled: %d of %d tasks run, none in the last %v (%d never ran)",
					n, s.target, stall.Round(time.Second), s.missing())
			}
		}
	}
}

// check reports tasks that ran twice, or that the run never enqueued.
func (s *sink) check() error {
	var errs []error
	if d := s.dups.Load(); d > 0 {
		errs = append(errs, fmt.Errorf("%d task runs were duplicates (a task ran twice)", d))
	}
	if u := s.unknown.Load(); u > 0 {
		errs = append(errs, fmt.Errorf("%d task runs had an unknown sequence number", u))
	}
	if m := s.missing(); m > 0 && s.done.Load() >= s.target {
		errs = append(errs, fmt.Errorf("%d tasks never ran", m))
	}
	return errors.Join(errs...)
}

// checkFinished checks the table after a run of n tasks: none left but
// those retention keeps, all done; and the other tasks of a type no pool
// serves, still waiting, never claimed.
func (e *Env) checkFinished(ctx context.Context, retention backie.RetentionMode, n int64, other int) error {
	var total, done, failed, running, untouched int64
	err := e.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE task_type NOT IN ($1, $2)),
		count(*) FILTER (WHERE task_type NOT IN ($1, $2) AND done_at IS NOT NULL AND error_info IS NULL),
		count(*) FILTER (WHERE task_type NOT IN ($1, $2) AND error_info IS NOT NULL),
		count(*) FILTER (WHERE task_type NOT IN ($1, $2) AND done_at IS NULL AND running_at IS NOT NULL),
		count(*) FILTER (WHERE task_type = $1 AND attempt = 0 AND running_at IS NULL AND done_at IS NULL)
		FROM backie_tasks`, otherType, lowType).Scan(&total, &done, &failed, &running, &untouched)
	if err != nil {
		return fmt.Errorf("check table: %w", err)
	}
	want := int64(0)
	if retention == backie.KeepAll {
		want = n
	}
	if total != want || done != want {
		return fmt.Errorf("after the run the table holds %d tasks (%d done, %d with an error, %d running), want %d done",
			total, done, failed, running, want)
	}
	if untouched != int64(other) {
		return fmt.Errorf("after the run %d of the %d tasks of a type no pool serves are untouched", untouched, other)
	}
	return nil
}

// checkStored checks that the table holds exactly n tasks.
func (e *Env) checkStored(ctx context.Context, n int64) error {
	var total int64
	if err := e.Pool.QueryRow(ctx, `SELECT count(*) FROM backie_tasks`).Scan(&total); err != nil {
		return fmt.Errorf("check table: %w", err)
	}
	if total != n {
		return fmt.Errorf("the table holds %d tasks, want %d", total, n)
	}
	return nil
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
