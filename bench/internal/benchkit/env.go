package benchkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backie-go/backie"
)

// Workloads lists the workloads, in their default order.
var Workloads = []string{"drain", "enqueue", "batch", "latency", "scheduled"}

// Config holds the settings of the workloads. Each workload reads the
// fields it needs.
type Config struct {
	// N is the number of tasks (drain, enqueue, batch).
	N int
	// Workers is the total number of workers (drain, latency), split over
	// Pools worker pools.
	Workers int
	// Pools is the number of WorkerPools, each with its own PgQueue and
	// Workers/Pools workers (drain, latency).
	Pools int
	// OwnPgxPool gives each WorkerPool its own *pgxpool.Pool (Env.OpenPool).
	OwnPgxPool bool
	// Types spreads the tasks over this many task types, named t0, t1, …,
	// and has every pool serve exactly those (Config.TaskTypes). 0: the
	// tasks are of the default type and the pools serve every type.
	Types int
	// Other is a backlog of due tasks of a type no pool serves, enqueued
	// before the tasks of the run, which the pools must leave alone
	// (drain and latency, with Types >= 1).
	Other int
	// Low is a backlog of due tasks of the lowest priority (type "low"),
	// enqueued before the tasks of the run, which are of the default
	// priority: the claims take the run's tasks first (drain, latency,
	// with Types 0). Their runs are counted apart.
	Low int
	// Goroutines is the number of concurrent CreateTask callers (enqueue,
	// and the producers of latency).
	Goroutines int
	// BatchSize is the size of one CreateTasks call (batch, and the
	// pre-insert of drain).
	BatchSize int
	// Rate is the producer's rate in tasks/s, for Duration (latency,
	// scheduled).
	Rate     float64
	Duration time.Duration
	// DelayMin and DelayMax bound the delay, uniformly random, of each
	// task of the scheduled workload (RunAfter).
	DelayMin, DelayMax time.Duration
	// Work is how long each task's Run waits.
	Work time.Duration
	// ClaimAhead goes to backie.Config (0: the library's default).
	ClaimAhead int
	// Retention, DisableNotifications and PollInterval go to backie.Config.
	Retention            backie.RetentionMode
	DisableNotifications bool
	PollInterval         time.Duration
	// StallTimeout fails a run in which no task completes for this long.
	StallTimeout time.Duration
	// EnqueueMiddleware goes to every queue (QueueConfig.Middleware), the
	// untimed pre-inserts included; RunMiddleware to every pool
	// (Config.Middleware). Both default to none.
	EnqueueMiddleware []backie.EnqueueMiddleware
	RunMiddleware     []backie.RunMiddleware
}

// Validate reports settings that cannot work for workload.
func (c Config) Validate(workload string) error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	switch workload {
	case "drain", "enqueue", "batch":
		if c.N < 1 {
			bad("n must be >= 1")
		}
	case "latency", "scheduled":
		if workload == "scheduled" && (c.DelayMin < 0 || c.DelayMax < c.DelayMin) {
			bad("need 0 <= delay-min <= delay-max")
		}
		if c.Rate <= 0 || c.Duration <= 0 {
			bad("rate and duration must be > 0")
		} else if c.latencyTotal() < 1 {
			bad("rate × duration is below one task")
		}
	default:
		return fmt.Errorf("unknown workload %q (want one of %s)", workload, strings.Join(Workloads, ", "))
	}
	if workload == "scheduled" {
		workload = "latency" // the same checks apply
	}
	if (workload == "drain" || workload == "latency") && (c.Pools < 1 || c.Workers < c.Pools) {
		bad("need pools >= 1 and workers >= pools (got %d workers, %d pools)", c.Workers, c.Pools)
	}
	if (workload == "enqueue" || workload == "latency") && c.Goroutines < 1 {
		bad("goroutines must be >= 1")
	}
	if (workload == "drain" || workload == "batch") && c.BatchSize < 1 {
		bad("batch size must be >= 1")
	}
	if c.Low > 0 && c.Types > 0 {
		bad("low needs types 0 (its tasks have their own type, which the pools must serve)")
	}
	if c.Types < 0 || c.Other < 0 || c.Low < 0 {
		bad("types and other must be >= 0")
	}
	if (workload == "drain" || workload == "latency") && c.Other > 0 && c.Types < 1 {
		bad("other needs types >= 1 (pools that serve every type would run the other tasks)")
	}
	if c.Work < 0 || c.PollInterval < 0 || c.StallTimeout <= 0 {
		bad("work and poll must be >= 0, stall timeout > 0")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %s", workload, strings.Join(problems, "; "))
	}
	return nil
}

func (c Config) latencyTotal() int64 { return int64(c.Rate * c.Duration.Seconds()) }

// otherType is the type of the Other backlog, lowType of the Low one.
const (
	otherType = "other"
	lowType   = "low"
)

// typeNames returns the Types task types (nil for none).
func (c Config) typeNames() []string {
	var names []string
	for i := range c.Types {
		names = append(names, fmt.Sprintf("t%d", i))
	}
	return names
}

// newTask returns task seq of a run whose tasks are spread over types.
func newTask(seq int64, types []string) *Task {
	t := &Task{Seq: seq}
	if len(types) > 0 {
		t.Type = types[seq%int64(len(types))]
	}
	return t
}

// Env is where workloads run: a pool whose connections use the bench's own
// schema, migrated. Workloads TRUNCATE its backie_tasks.
type Env struct {
	// Pool runs the inserts, the checks and (unless OwnPgxPool) the workers.
	Pool *pgxpool.Pool
	// OpenPool opens another pool on the same schema, for Config.OwnPgxPool.
	// The workload closes it.
	OpenPool func(ctx context.Context) (*pgxpool.Pool, error)
	// Registry holds Task (NewRegistry).
	Registry *backie.Registry
	// Logger is given to the worker pools.
	Logger *slog.Logger
	// Progress receives a progress line every ProgressEvery; nil for none.
	Progress      io.Writer
	ProgressEvery time.Duration
}

// Run runs workload runs times and returns its result: the median of the
// runs, or the error of the first run that failed.
func (e *Env) Run(ctx context.Context, workload string, cfg Config, runs int) Result {
	res := describe(workload, cfg)
	res.Runs = []Metrics{}
	if err := cfg.Validate(workload); err != nil {
		res.Error = err.Error()
		return res
	}
	for i := range max(runs, 1) {
		m, err := e.RunOnce(ctx, workload, cfg)
		if err != nil {
			res.Error = err.Error()
			if runs > 1 {
				res.Error = fmt.Sprintf("run %d of %d: %v", i+1, runs, err)
			}
			return res
		}
		res.Runs = append(res.Runs, m)
	}
	res.Metrics = Median(res.Runs)
	return res
}

// describe returns the settings part of a workload's Result.
func describe(workload string, cfg Config) Result {
	res := Result{Workload: workload, N: cfg.N, WorkMS: ms(cfg.Work)}
	pools := func() {
		res.Workers, res.Pools, res.OwnPgxPool = cfg.Workers, cfg.Pools, cfg.OwnPgxPool
		res.Types = cfg.Types
		res.Retention = RetentionName(cfg.Retention)
		notify := !cfg.DisableNotifications
		res.Notify = &notify
		res.PollMS = ms(cmp(cfg.PollInterval, backie.PollIntervalDefault))
	}
	switch workload {
	case "drain":
		pools()
		res.BatchSize = cfg.BatchSize
		res.Other, res.Low = cfg.Other, cfg.Low
	case "enqueue":
		res.Goroutines = cfg.Goroutines
	case "batch":
		res.BatchSize = cfg.BatchSize
	case "latency", "scheduled":
		pools()
		res.Other, res.Low = cfg.Other, cfg.Low
		res.N = int(cfg.latencyTotal())
		res.Goroutines = cfg.Goroutines
		res.Rate, res.DurationS = cfg.Rate, cfg.Duration.Seconds()
		if workload == "scheduled" {
			res.DelayMinMS, res.DelayMaxMS = ms(cfg.DelayMin), ms(cfg.DelayMax)
		}
	}
	return res
}

func cmp(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// RunOnce runs workload once on a fresh table.
func (e *Env) RunOnce(ctx context.Context, workload string, cfg Config) (Metrics, error) {
	if err := cfg.Validate(workload); err != nil {
		return Metrics{}, err
	}
	if err := e.Reset(ctx); err != nil {
		return Metrics{}, err
	}
	switch workload {
	case "drain":
		return e.drain(ctx, cfg)
	case "enqueue":
		return e.enqueue(ctx, cfg)
	case "batch":
		return e.batch(ctx, cfg)
	case "scheduled":
		return e.latency(ctx, cfg, true)
	default:
		return e.latency(ctx, cfg, false)
	}
}

// Reset empties backie_tasks for good (TRUNCATE, so no dead tuples or
// bloated indexes carry over from the previous run) and refreshes its
// statistics.
func (e *Env) Reset(ctx context.Context) error {
	if _, err := e.Pool.Exec(ctx, `TRUNCATE backie_tasks`); err != nil {
		return fmt.Errorf("reset table: %w", err)
	}
	return e.vacuum(ctx)
}

func (e *Env) vacuum(ctx context.Context) error {
	if _, err := e.Pool.Exec(ctx, `VACUUM ANALYZE backie_tasks`); err != nil {
		return fmt.Errorf("vacuum table: %w", err)
	}
	return nil
}

// ParseRetention reads remove-finished, keep-all or remove-all.
func ParseRetention(s string) (backie.RetentionMode, error) {
	for _, m := range []backie.RetentionMode{backie.RemoveFinished, backie.KeepAll, backie.RemoveAll} {
		if strings.EqualFold(s, RetentionName(m)) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown retention %q (want remove-finished, keep-all or remove-all)", s)
}

// RetentionName is the flag spelling of m.
func RetentionName(m backie.RetentionMode) string {
	switch m {
	case backie.KeepAll:
		return "keep-all"
	case backie.RemoveAll:
		return "remove-all"
	default:
		return "remove-finished"
	}
}

// ParseWorkloads splits a comma list and checks its names.
func ParseWorkloads(s string) ([]string, error) {
	var out []string
	for w := range strings.SplitSeq(s, ",") {
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		if !slices.Contains(Workloads, w) {
			return nil, fmt.Errorf("unknown workload %q (want a comma list of %s)", w, strings.Join(Workloads, ","))
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		return nil, errors.New("no workload given")
	}
	return out, nil
}
