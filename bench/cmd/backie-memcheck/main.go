// Command backie-memcheck shows that a worker process's memory stays flat
// while a large backlog of Ready tasks waits in the table: it batch-inserts
// -n tasks (default 1,000,000) into a fresh schema, runs a pool of -workers
// whose tasks each take -work, and prints the process's RSS, Go heap and
// goroutines every -every for -for, then drops the schema. Run it in bench/,
// the benchmark tooling's own module:
//
//	go run ./cmd/backie-memcheck -url 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/backie-go/backie"
	"github.com/jackc/pgx/v5/pgxpool"
)

var work = flag.Duration("work", 50*time.Millisecond, "time each task's Run takes")

type slow struct {
	backie.TaskDefaults
	I int `json:"i"`
}

func (t *slow) Run(ctx context.Context, q backie.Queue) error {
	select {
	case <-time.After(*work):
	case <-ctx.Done():
	}
	return nil
}

// rss is the process's resident set size, from /proc (Linux).
func rss() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS") {
			return strings.Join(strings.Fields(l)[1:], " ")
		}
	}
	return "?"
}

func main() {
	url := flag.String("url", "", "PostgreSQL URL (default $DATABASE_URL, else the local test database)")
	n := flag.Int("n", 1_000_000, "tasks in the backlog")
	workers := flag.Int("workers", 100, "workers of the pool")
	every := flag.Duration("every", 3*time.Second, "sampling interval")
	total := flag.Duration("for", 30*time.Second, "how long the pool runs")
	flag.Parse()
	if *url == "" {
		*url = os.Getenv("DATABASE_URL")
	}
	if *url == "" {
		*url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(*url)
	must(err)
	cfg.ConnConfig.RuntimeParams["search_path"] = "backie_memcheck"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	must(err)
	defer pool.Close()
	_, err = pool.Exec(ctx, "DROP SCHEMA IF EXISTS backie_memcheck CASCADE; CREATE SCHEMA backie_memcheck")
	must(err)
	must(backie.Migrate(ctx, pool, backie.MigrateConfig{}))
	reg := backie.NewRegistry()
	must(backie.Register[*slow](reg, "slow"))
	q := backie.NewPgQueue(pool, reg)
	t0 := time.Now()
	for i := 0; i < *n; i += 5000 {
		ts := make([]backie.Task, 0, 5000)
		for j := i; j < min(i+5000, *n); j++ {
			ts = append(ts, &slow{I: j})
		}
		_, err := q.CreateTasks(ctx, ts)
		must(err)
	}
	_, err = pool.Exec(ctx, "VACUUM ANALYZE backie_tasks")
	must(err)
	runtime.GC()
	fmt.Printf("inserted %d in %v; rss before the pool starts: %s\n", *n, time.Since(t0).Round(time.Second), rss())
	rctx, cancel := context.WithCancel(ctx)
	wp, err := backie.NewWorkerPool(q, backie.Config{Workers: *workers, Logger: backie.DiscardLogger()})
	must(err)
	must(wp.Start(rctx))
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for start := time.Now(); time.Since(start) < *total; {
		<-tick.C
		var left int
		pool.QueryRow(ctx, "select count(*) from backie_tasks").Scan(&left)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("t=%4.0fs rss=%s heap_inuse=%.1fMiB goroutines=%d tasks_left=%d\n",
			time.Since(start).Seconds(), rss(), float64(ms.HeapInuse)/1048576, runtime.NumGoroutine(), left)
	}
	cancel()
	wp.Wait()
	_, err = pool.Exec(ctx, "DROP SCHEMA backie_memcheck CASCADE")
	must(err)
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
