// Command backie-bench measures Backie on a PostgreSQL database.
//
// It creates a schema of its own (backie_bench_<random>), migrates it, runs
// the chosen workloads on a fresh backie_tasks table each (TRUNCATE, VACUUM
// ANALYZE), prints one JSON line per workload on stdout, then a table, and
// drops the schema. Progress goes to stderr on long runs.
//
// Workloads:
//
//	drain    pre-insert -n no-op tasks in batches, then time -pools worker
//	         pools of -workers workers in all until every task has run
//	enqueue  -n CreateTask calls from -goroutines goroutines
//	batch    -n tasks by CreateTasks in batches of -batch-size
//	latency  -rate tasks/s for -duration while the pools run: pickup
//	         latency (enqueue → Run starts) p50/p95/p99/max and completion rate
//	scheduled as latency, each task due -delay-min..-delay-max after its
//	         enqueue: start latency (scheduled_at → Run starts)
//
// Every run checks itself: a task lost, run twice, or left in the table
// fails the workload (exit status 1) instead of giving a number. -runs R
// repeats each workload and reports the median; -cpuprofile profiles the
// whole run; -sql-stats prints the statements each workload ran (calls,
// rows per call, mean time), to see where the round trips go. -otel on
// puts backieotel's middleware on the queues and pools (every span
// sampled, or the fraction -otel-sample, exported to nowhere); -otel both
// runs each workload without it and with it, alternately, run after run,
// and reports both ("drain" and "drain+otel").
//
// Usage, in bench/ (the benchmark tooling's own module; `make bench` runs it
// from the repository root):
//
//	go run ./cmd/backie-bench -url 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//	go run ./cmd/backie-bench -workloads drain -pools 4 -work 1ms -runs 3
//	go run ./cmd/backie-bench -workloads latency -rate 500 -duration 30s -notify=false -poll 100ms
//	go run ./cmd/backie-bench -workloads scheduled -rate 100 -notify=false
//	go run ./cmd/backie-bench -workloads drain -otel both -runs 5
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/bench/internal/benchkit"
)

const defaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// ownPoolConns is the size of a worker pool's own pgxpool (-own-pgxpool):
// its claimer, completer, rescuer and LISTEN connection.
const ownPoolConns = 4

type options struct {
	url        string
	workloads  string
	runs       int
	jsonOnly   bool
	schema     string
	maxConns   int
	cpuProfile string
	retention  string
	notify     bool
	progress   time.Duration
	verbose    bool
	sqlStats   bool
	otel       string
	otelSample float64
	cfg        benchkit.Config
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// defaultN is the tasks of a run of workload w when -n is not given: a
// drain of 100,000 tasks lasts a second or two on a 2-core machine, and its
// start and end weigh in; 300,000 gives a steadier figure.
func defaultN(w string) int {
	if w == "drain" {
		return 300_000
	}
	return 100_000
}

// configFor is the configuration of a run of workload w: -n, or its
// default when -n is 0.
func configFor(cfg benchkit.Config, w string) benchkit.Config {
	if cfg.N == 0 {
		cfg.N = defaultN(w)
	}
	return cfg
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("backie-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envURL := os.Getenv("DATABASE_URL")
	if envURL == "" {
		envURL = defaultURL
	}
	fs.StringVar(&o.url, "url", "", "PostgreSQL URL; empty: $DATABASE_URL, else "+defaultURL)
	fs.StringVar(&o.workloads, "workloads", "drain,enqueue,batch,latency", "comma list of workloads to run, in order")
	fs.IntVar(&o.cfg.N, "n", 0, "tasks per run (drain, enqueue, batch); 0: 300,000 for drain, 100,000 for the others")
	fs.IntVar(&o.cfg.Workers, "workers", 100, "workers in all, split over -pools pools (drain, latency)")
	fs.IntVar(&o.cfg.Pools, "pools", 1, "worker pools, each with its own PgQueue and workers/pools workers (drain, latency)")
	fs.BoolVar(&o.cfg.OwnPgxPool, "own-pgxpool", false, fmt.Sprintf("give each worker pool its own pgxpool of %d connections", ownPoolConns))
	fs.IntVar(&o.cfg.Types, "types", 0, "spread the tasks over this many task types, each pool serving them all (0: default type, pools serve every type)")
	fs.IntVar(&o.cfg.Other, "other", 0, "queue this many due tasks of a type no pool serves before the tasks of the run (drain, latency; needs -types >= 1)")
	fs.IntVar(&o.cfg.ClaimAhead, "claim-ahead", 0, "Config.ClaimAhead of each pool: 0 the default (twice its workers, at least 200), -1 off")
	fs.IntVar(&o.cfg.Low, "low", 0, "queue this many due tasks of the lowest priority before the tasks of the run (drain, latency; needs -types 0)")
	fs.IntVar(&o.cfg.Goroutines, "goroutines", 16, "concurrent CreateTask callers (enqueue; producers of latency)")
	fs.IntVar(&o.cfg.BatchSize, "batch-size", 1000, "tasks per CreateTasks call (batch; drain's pre-insert)")
	fs.Float64Var(&o.cfg.Rate, "rate", 200, "producer rate in tasks/s (latency, scheduled)")
	fs.DurationVar(&o.cfg.Duration, "duration", 10*time.Second, "how long the producer runs (latency, scheduled)")
	fs.DurationVar(&o.cfg.DelayMin, "delay-min", 100*time.Millisecond, "shortest delay of a task (scheduled)")
	fs.DurationVar(&o.cfg.DelayMax, "delay-max", 2*time.Second, "longest delay of a task (scheduled)")
	fs.DurationVar(&o.cfg.Work, "work", 0, "time each task's Run waits (1ms is the usual comparison)")
	fs.StringVar(&o.retention, "retention", "remove-finished", "retention mode: remove-finished, keep-all or remove-all")
	fs.BoolVar(&o.notify, "notify", true, "LISTEN/NOTIFY wake-ups (false sets Config.DisableNotifications)")
	fs.DurationVar(&o.cfg.PollInterval, "poll", 0, "worker pool PollInterval (0: the library default, 1s)")
	fs.DurationVar(&o.cfg.StallTimeout, "stall", time.Minute, "fail a run in which no task completes for this long")
	fs.IntVar(&o.runs, "runs", 1, "repeat each workload this many times and report the median")
	fs.BoolVar(&o.jsonOnly, "json-only", false, "print only the JSON lines, no table")
	fs.StringVar(&o.schema, "schema", "", "schema to run in, created if missing and kept; it must hold no tasks, as the bench truncates backie_tasks (default: a fresh backie_bench_<random>, dropped at the end)")
	fs.IntVar(&o.maxConns, "max-conns", 0, "size of the main pgxpool (0: goroutines + 4 × pools + 4)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to `file`")
	fs.DurationVar(&o.progress, "progress", time.Second, "interval of the progress lines on stderr (0: none)")
	fs.BoolVar(&o.verbose, "v", false, "show the worker pools' info logs")
	fs.StringVar(&o.otel, "otel", otelOff, "backieotel's middleware: off, on, or both (each run without it, then with it)")
	fs.Float64Var(&o.otelSample, "otel-sample", 1, "with -otel, the fraction of traces sampled (1: every enqueue and attempt)")
	fs.BoolVar(&o.sqlStats, "sql-stats", false, "after each workload, print to stderr the statements run (calls, rows/call, mean time), from a pgx tracer")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.url == "" { // e.g. make bench with DATABASE_URL unset
		o.url = envURL
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "backie-bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	workloads, err := benchkit.ParseWorkloads(o.workloads)
	if err == nil {
		o.cfg.Retention, err = benchkit.ParseRetention(o.retention)
	}
	if err == nil {
		o.cfg.DisableNotifications = !o.notify
		for _, w := range workloads {
			if err = configFor(o.cfg, w).Validate(w); err != nil {
				break
			}
		}
	}
	if err == nil && o.runs < 1 {
		err = errors.New("runs must be >= 1")
	}
	if err == nil && o.otel != otelOff && o.otel != otelOn && o.otel != otelBoth {
		err = fmt.Errorf("-otel %q: want off, on or both", o.otel)
	}
	if err == nil && (o.otelSample < 0 || o.otelSample > 1) {
		err = fmt.Errorf("-otel-sample %g: want 0 to 1", o.otelSample)
	}
	if err != nil {
		fmt.Fprintf(stderr, "backie-bench: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "backie-bench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "backie-bench: cpu profile: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if err := bench(ctx, o, workloads, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "backie-bench: %v\n", err)
		return 1
	}
	return 0
}

// errFailed means a workload failed; its error is in its result.
var errFailed = errors.New("a workload failed")

func bench(ctx context.Context, o options, workloads []string, stdout, stderr io.Writer) (err error) {
	base, err := pgxpool.ParseConfig(o.url)
	if err != nil {
		return fmt.Errorf("parse -url: %w", err)
	}

	var sqlStats *benchkit.SQLStats
	if o.sqlStats {
		sqlStats = benchkit.NewSQLStats()
		base.ConnConfig.Tracer = sqlStats
	}

	// The schema: ours (created and dropped) unless -schema names one.
	admin, err := openPool(ctx, base, "", 2)
	if err != nil {
		return err
	}
	defer admin.Close()
	schema, dropSchema := o.schema, o.schema == ""
	if dropSchema {
		var b [6]byte
		_, _ = rand.Read(b[:])
		schema = "backie_bench_" + hex.EncodeToString(b[:])
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	if dropSchema {
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, derr := admin.Exec(cctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); derr != nil {
				err = errors.Join(err, fmt.Errorf("drop schema %s: %w", schema, derr))
			}
		}()
	}

	maxConns := o.maxConns
	if maxConns <= 0 {
		maxConns = o.cfg.Goroutines + 4*o.cfg.Pools + 4
	}
	pool, err := openPool(ctx, base, schema, int32(maxConns))
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := backie.Migrate(ctx, pool, backie.MigrateConfig{}); err != nil {
		return err
	}
	if !dropSchema {
		var n int64
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM backie_tasks`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("schema %s holds %d tasks: the bench truncates backie_tasks, give it an empty schema", schema, n)
		}
	}

	var version string
	_ = pool.QueryRow(ctx, `SHOW server_version`).Scan(&version)
	fmt.Fprintf(stderr, "backie-bench: schema %s, PostgreSQL %s, %s, GOMAXPROCS=%d, max conns %d\n",
		schema, version, runtime.Version(), runtime.GOMAXPROCS(0), maxConns)

	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	reg, err := benchkit.NewRegistry()
	if err != nil {
		return err
	}
	env := &benchkit.Env{
		Pool: pool,
		OpenPool: func(ctx context.Context) (*pgxpool.Pool, error) {
			return openPool(ctx, base, schema, ownPoolConns)
		},
		Registry:      reg,
		Logger:        slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		Progress:      stderr,
		ProgressEvery: o.progress,
	}

	var results []benchkit.Result
	failed := false
	for _, w := range workloads {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(stderr, "backie-bench: %s...\n", w)
		if sqlStats != nil {
			sqlStats.Reset()
		}
		wo := o
		wo.cfg = configFor(o.cfg, w)
		var res []benchkit.Result
		switch wo.otel {
		case otelOff:
			res = []benchkit.Result{env.Run(ctx, w, wo.cfg, wo.runs)}
		default:
			res, err = runModes(ctx, env, w, wo)
			if err != nil {
				return err
			}
		}
		if sqlStats != nil {
			_ = sqlStats.Write(stderr, w)
		}
		for _, r := range res {
			if r.Error != "" {
				failed = true
				fmt.Fprintf(stderr, "backie-bench: %s failed: %s\n", r.Workload, r.Error)
			}
			results = append(results, r)
			if err := benchkit.WriteJSON(stdout, r); err != nil {
				return err
			}
		}
	}
	if !dropSchema { // leave the caller's schema as empty as it was given
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := env.Reset(cctx); err != nil {
			return err
		}
	}
	if !o.jsonOnly && len(results) > 0 {
		fmt.Fprintln(stdout)
		if err := benchkit.WriteTable(stdout, results); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	if failed {
		return errFailed
	}
	return nil
}

// runModes runs workload w with backieotel's middleware (-otel on), or
// without and with it in turn, run after run (-otel both), so that a drift
// of the machine's speed weighs on both alike. The results with the
// middleware are named w+"+otel".
func runModes(ctx context.Context, env *benchkit.Env, w string, o options) ([]benchkit.Result, error) {
	withCfg, stop, err := withOTel(o.cfg, o.otelSample)
	if err != nil {
		return nil, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = stop(sctx)
	}()
	cfgs := []benchkit.Config{withCfg}
	if o.otel == otelBoth {
		cfgs = []benchkit.Config{o.cfg, withCfg}
	}
	results := make([]benchkit.Result, len(cfgs))
	for i := range o.runs {
		for j, cfg := range cfgs {
			if ctx.Err() != nil || results[j].Error != "" {
				continue
			}
			r := env.Run(ctx, w, cfg, 1)
			if i == 0 {
				results[j] = r
				continue
			}
			results[j].Runs = append(results[j].Runs, r.Runs...)
			if r.Error != "" {
				results[j].Error = fmt.Sprintf("run %d of %d: %s", i+1, o.runs, r.Error)
			}
		}
	}
	for j := range results {
		results[j].Metrics = benchkit.Median(results[j].Runs)
	}
	results[len(results)-1].Workload += "+otel"
	return results, nil
}

// openPool opens a pool on base's database whose connections use schema
// (none: the server's default search_path).
func openPool(ctx context.Context, base *pgxpool.Config, schema string, maxConns int32) (*pgxpool.Pool, error) {
	cfg := base.Copy()
	cfg.MaxConns = maxConns
	if schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = schema
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	return pool, nil
}
