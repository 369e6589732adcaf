// Command simple_worker is a small service built on Backie: it migrates the
// schema, enqueues tasks every second and runs them on a WorkerPool until
// Ctrl-C (or SIGTERM, or the end of -duration), then stops cleanly.
//
// It uses the database in DATABASE_URL; when that is unset it starts a
// throwaway PostgreSQL in Docker (testcontainers) and removes it on exit, or,
// without Docker, uses a local PostgreSQL on 127.0.0.1:5432 if one answers.
//
//	DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' make example ARGS='-duration 5s'
//
// make example runs it from the repository root; in examples/, the
// examples' own module, it is go run ./simple_worker -duration 5s. It uses
// only the public APIs of Backie, its dashboard (backieui) and its
// OpenTelemetry middleware (backieotel), with pgx, OpenTelemetry's SDK and
// testcontainers, so it can be copied into another project as it is.
//
// While it runs, it serves on -addr (default :8080) the dashboard at / and
// the metrics, in Prometheus's text format, at /metrics. Every enqueue and
// every attempt makes a span; -traces prints them to stdout.
//
// Three task types show the main features:
//   - Greet logs a greeting and enqueues a follow-up RefreshStats task from
//     Run, through the Queue it receives;
//   - RefreshStats is unique: however many greetings ask for it, at most one
//     is waiting at any time;
//   - CallWebhook gets its client from the constructor it is registered
//     with (backie.RegisterFunc); it fails half of the time and is retried
//     after a short backoff, at most three times.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backieui"
)

// Greet logs a greeting, then enqueues a RefreshStats follow-up.
type Greet struct {
	backie.TaskDefaults
	Name string `json:"name"`
}

// Run logs the greeting and asks for a stats refresh.
func (t *Greet) Run(ctx context.Context, q backie.Queue) error {
	rec, _ := backie.RecordFromContext(ctx)
	slog.InfoContext(ctx, "hello", "name", t.Name, "task_id", rec.ID,
		"waited", time.Since(rec.ScheduledAt).Round(time.Millisecond))
	// A task enqueues follow-up work with the queue it is given.
	_, err := q.CreateTask(ctx, &RefreshStats{})
	return err
}

// RefreshStats pretends to recompute statistics. It is unique: while one
// is waiting or running, enqueueing another returns the existing one.
type RefreshStats struct {
	backie.TaskDefaults
}

// Uniq makes every RefreshStats share one hash.
func (t *RefreshStats) Uniq() (backie.TaskHash, error) { return backie.HashOf("refresh_stats") }

// TaskType routes RefreshStats to the "maintenance" type (this pool runs
// every type; a pool with Config.TaskTypes could run only these).
func (t *RefreshStats) TaskType() backie.TaskType { return "maintenance" }

// Run takes 300ms, or returns early when ctx is cancelled.
func (t *RefreshStats) Run(ctx context.Context, q backie.Queue) error {
	select {
	case <-time.After(300 * time.Millisecond): // the "work"
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	slog.InfoContext(ctx, "stats refreshed")
	return nil
}

// Webhooks stands for the client of a remote service that fails half of
// the time. The CallWebhook tasks get it from the constructor they are
// registered with (see run), not from a global.
type Webhooks struct {
	log *slog.Logger
}

// Call delivers webhook seq, or fails like a flaky remote service.
func (w *Webhooks) Call(ctx context.Context, seq, retries int) error {
	if rand.IntN(2) == 0 {
		return fmt.Errorf("webhook %d: remote answered 503 (retries so far: %d)", seq, retries)
	}
	w.log.InfoContext(ctx, "webhook delivered", "seq", seq, "retries", retries)
	return nil
}

// CallWebhook calls a webhook. Its exported field is its payload; hooks,
// unexported, is a dependency set by its constructor.
type CallWebhook struct {
	backie.TaskDefaults
	hooks *Webhooks
	Seq   int `json:"seq"`
}

// MaxRetries allows three retries (four attempts) instead of 20.
func (t *CallWebhook) MaxRetries() int { return 3 }

// Backoff waits 250ms, 500ms, 750ms before the retries instead of 1s, 2s, 4s.
func (t *CallWebhook) Backoff(retries int) time.Duration {
	return time.Duration(retries+1) * 250 * time.Millisecond
}

// Timeout gives one call five seconds instead of two minutes.
func (t *CallWebhook) Timeout() time.Duration { return 5 * time.Second }

// Run fails half of the time; the pool retries it after Backoff.
func (t *CallWebhook) Run(ctx context.Context, q backie.Queue) error {
	rec, _ := backie.RecordFromContext(ctx)
	return t.hooks.Call(ctx, t.Seq, rec.Retries)
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 0, "stop by itself after this long (0: run until Ctrl-C or SIGTERM)")
	flag.IntVar(&o.workers, "workers", 4, "number of tasks run at once")
	flag.StringVar(&o.addr, "addr", ":8080", "serve the dashboard (/) and the metrics (/metrics) on this address")
	flag.BoolVar(&o.traces, "traces", false, "print every span (enqueues and attempts) to stdout, one JSON object each")
	flag.Parse()

	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "simple_worker: %v\n", err)
		os.Exit(1)
	}
}

// options are the command line's flags.
type options struct {
	duration time.Duration
	workers  int
	addr     string
	traces   bool
}

func run(o options) error {
	// Ctrl-C or SIGTERM cancels ctx, which begins the pool's graceful stop.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	// Listen first: a busy port fails at once, before any container starts.
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s (choose another address with -addr): %w", o.addr, err)
	}
	defer ln.Close()

	url, cleanup, err := databaseURL(ctx)
	if err != nil {
		return err
	}
	defer cleanup()

	// The application owns the pgx pool; Backie never closes it.
	db, err := pgxpool.New(context.Background(), url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer db.Close()

	if err := backie.Migrate(ctx, db, backie.MigrateConfig{}); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// The table may hold tasks of earlier runs. created_at is set by the
	// database's clock, so the tasks of this run are those created at or
	// after the database's now() of this moment.
	var runStart time.Time
	if err := db.QueryRow(ctx, "SELECT now()").Scan(&runStart); err != nil {
		return fmt.Errorf("read the database clock: %w", err)
	}

	// Tasks that need nothing are registered by type; CallWebhook, which
	// needs the Webhooks client, with a constructor whose value the stored
	// JSON fills in.
	hooks := &Webhooks{log: slog.Default()}
	reg := backie.NewRegistry()
	if err := errors.Join(
		backie.Register[*Greet](reg, "greet"),
		backie.Register[*RefreshStats](reg, "refresh_stats"),
		backie.RegisterFunc(reg, "call_webhook", func() *CallWebhook { return &CallWebhook{hooks: hooks} }),
	); err != nil {
		return err
	}

	// OpenTelemetry: the enqueue middleware on the queue, the run
	// middleware on the pool, and the queue's gauges.
	var traceOut io.Writer
	if o.traces {
		traceOut = os.Stdout
	}
	tel, err := newTelemetry(traceOut)
	if err != nil {
		return err
	}
	defer func() {
		if err := tel.shutdown(); err != nil {
			slog.Error("telemetry shutdown", "error", err)
		}
	}()
	queue := backie.NewPgQueue(db, reg, backie.QueueConfig{
		Middleware: []backie.EnqueueMiddleware{tel.inst.EnqueueMiddleware()},
	})
	unobserve, err := tel.inst.ObserveQueue(queue)
	if err != nil {
		return err
	}
	defer unobserve()

	ui, err := backieui.New(queue, backieui.Config{Title: "simple_worker"})
	if err != nil {
		return err
	}
	pool, err := backie.NewWorkerPool(queue, backie.Config{
		Workers:       o.workers,
		ShutdownGrace: 5 * time.Second,
		// Finished tasks stay an hour, to be looked at in the dashboard.
		Retention:        backie.KeepAll,
		CleanupDoneAfter: time.Hour,
		Middleware:       []backie.RunMiddleware{tel.inst.RunMiddleware()},
		Logger:           slog.Default(),
	})
	if err != nil {
		return err
	}
	if err := pool.Start(ctx); err != nil {
		return fmt.Errorf("start worker pool: %w", err)
	}

	// The dashboard at /, the metrics at /metrics. A real service puts the
	// dashboard behind its own login (see the README).
	mux := http.NewServeMux()
	mux.Handle("/metrics", tel.metricsHandler())
	mux.Handle("/", ui)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	base := "http://" + displayAddr(ln.Addr())
	slog.Info(fmt.Sprintf("dashboard: %s/ , metrics: %s/metrics", base, base))
	if !o.traces {
		slog.Info("spans are not printed; -traces prints them to stdout")
	}
	slog.Info("running; press Ctrl-C to stop", "duration", o.duration)

	// A unique task: the second CreateTask inserts nothing and returns the
	// record of the first.
	first, err := queue.CreateTask(ctx, &RefreshStats{})
	if err != nil {
		return err
	}
	second, err := queue.CreateTask(ctx, &RefreshStats{})
	if err != nil {
		return err
	}
	slog.Info("enqueued a unique task twice", "first_id", first.ID, "second_id", second.ID, "same", first.ID == second.ID)

	// A task for later: it stays Scheduled for two seconds.
	later, err := queue.CreateTask(ctx, &Greet{Name: "Later"}, backie.RunAfter(2*time.Second))
	if err != nil {
		return err
	}
	slog.Info("scheduled a task", "task_id", later.ID, "state", later.State(), "due", later.ScheduledAt.Format(time.TimeOnly))

	enqueueUntilDone(ctx, queue, tel.tp.Tracer("simple_worker"))

	// ctx is done: the pool stops claiming, lets running tasks finish
	// (for up to ShutdownGrace) and releases the rest. Wait returns once
	// every goroutine of the pool has exited.
	stop() // a second Ctrl-C now kills the process
	slog.Info("stopping")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		slog.Error("http server shutdown", "error", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		slog.Error("http server", "error", err)
	}
	pool.Wait()
	printSummary(db, runStart)
	slog.Info("stopped cleanly")
	return nil
}

// displayAddr is addr as a browser on this machine reaches it: ":8080"
// and "[::]:8080" become "localhost:8080".
func displayAddr(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// enqueueUntilDone enqueues a greeting and a webhook call every second,
// in one round trip, until ctx is done. Each round is a span, as a request
// of a service would be: the enqueue's span is its child, and the tasks'
// attempts link to it.
func enqueueUntilDone(ctx context.Context, queue *backie.PgQueue, tracer trace.Tracer) {
	names := []string{"Ada", "Grace", "Ken", "Rob", "Barbara", "Edsger"}
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for seq := 0; ; seq++ {
		roundCtx, span := tracer.Start(ctx, "enqueue round")
		recs, err := queue.CreateTasks(roundCtx, []backie.Task{
			&Greet{Name: names[seq%len(names)]},
			&CallWebhook{Seq: seq},
		})
		span.End()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			slog.Error("enqueue failed", "error", err)
		default:
			slog.Info("enqueued", "greet_id", recs[0].ID, "webhook_id", recs[1].ID,
				"trace_id", span.SpanContext().TraceID())
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// printSummary logs how many of the tasks created since runStart (by this
// run, and by the tasks it ran) are left unfinished in each state, and how
// many failed. Done tasks stay an hour for the dashboard (KeepAll retention)
// and are not counted. Tasks of earlier runs are not counted; a second copy
// of the example running on the same database at the same time would be.
func printSummary(db *pgxpool.Pool, runStart time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ready, scheduled, running, failed int
	err := db.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE done_at IS NULL AND running_at IS NULL AND scheduled_at <= now()),
		count(*) FILTER (WHERE done_at IS NULL AND running_at IS NULL AND scheduled_at > now()),
		count(*) FILTER (WHERE done_at IS NULL AND running_at IS NOT NULL),
		count(*) FILTER (WHERE done_at IS NOT NULL AND error_info IS NOT NULL)
		FROM backie_tasks
		WHERE task_name IN ('greet', 'refresh_stats', 'call_webhook') AND created_at >= $1`, runStart).
		Scan(&ready, &scheduled, &running, &failed)
	if err != nil {
		slog.Error("summary failed", "error", err)
		return
	}
	slog.Info("tasks of this run left in the table", "ready", ready, "scheduled", scheduled, "running", running, "failed", failed)
}
