// Command backie-scale times Stats and ListTasks on a large table.
//
// It fills a schema of its own with -n tasks (1,000,000 by default) spread
// over states, types, names and priorities, then times, -runs times each, Stats with no pool running (it counts the
// table itself) and with a pool whose leader has counted it, and the first
// and a deep page of ListTasks for each state, and prints the medians and
// ranges. The schema is dropped at the end.
//
//	go run ./cmd/backie-scale -url 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backie-go/backie"
)

// Item is the task the table is filled with.
type Item struct {
	backie.TaskDefaults
	N int `json:"n"`
}

func (*Item) Run(context.Context, backie.Queue) error { return nil }

func main() {
	url := flag.String("url", os.Getenv("DATABASE_URL"), "PostgreSQL URL")
	n := flag.Int("n", 1_000_000, "tasks in the table")
	runs := flag.Int("runs", 5, "timings of each call")
	flag.Parse()
	if *url == "" {
		*url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	if err := run(*url, *n, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "backie-scale:", err)
		os.Exit(1)
	}
}

func run(url string, n, runs int) error {
	ctx := context.Background()
	var b [4]byte
	_, _ = rand.Read(b[:])
	schema := "backie_scale_" + hex.EncodeToString(b[:])
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return err
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	defer func() {
		_, _ = db.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	}()
	if err := backie.Migrate(ctx, db, backie.MigrateConfig{Schema: schema}); err != nil {
		return err
	}
	reg := backie.NewRegistry()
	if err := backie.Register[*Item](reg, "item"); err != nil {
		return err
	}
	q := backie.NewPgQueue(db, reg)

	start := time.Now()
	fmt.Printf("filling %d tasks...\n", n)
	// The table: 70% ready (a backlog), 10% scheduled, 0.1% running, 15%
	// done, 4% failed, 0.9% cancelled; priorities 1..4; 4 types.
	if _, err := db.Exec(ctx, `INSERT INTO backie_tasks (id, task_name, task_type, priority, payload, timeout_msecs,
		scheduled_at, running_at, done_at, error_info, cancelled_at, created_at)
		SELECT gen_random_uuid(), 'item', 't' || (i % 4), 1 + (i % 7) % 4, jsonb_build_object('n', i), 120000,
		       CASE WHEN i % 1000 BETWEEN 700 AND 799 THEN now() + (i % 3600) * interval '1 second'
		            ELSE now() - (i % 86400) * interval '1 second' END,
		       CASE WHEN i % 1000 = 800 OR i % 1000 BETWEEN 801 AND 999 THEN now() - interval '1 minute' END,
		       CASE WHEN i % 1000 BETWEEN 801 AND 999 THEN now() - (i % 86400) * interval '1 second' END,
		       CASE WHEN i % 1000 BETWEEN 950 AND 989 THEN '{"message":"boom"}'::jsonb END,
		       CASE WHEN i % 1000 BETWEEN 990 AND 999 THEN now() - interval '1 minute' END,
		       now() - (i % 86400) * interval '1 second'
		FROM generate_series(1, $1) AS i`, n); err != nil {
		return err
	}
	if _, err := db.Exec(ctx, `VACUUM ANALYZE backie_tasks`); err != nil {
		return err
	}
	fmt.Printf("filled in %v\n", time.Since(start).Round(time.Second))

	time1 := func(name string, f func() error) error {
		var ds []time.Duration
		for range runs {
			t0 := time.Now()
			if err := f(); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			ds = append(ds, time.Since(t0))
		}
		report(name, ds)
		return nil
	}
	// With no pool running, no count is younger than a minute: Stats counts
	// itself, reading the whole table, as the leader's count does.
	if err := time1("Stats, no pool running (counts the table itself)", func() error { _, err := q.Stats(ctx); return err }); err != nil {
		return err
	}
	// With a pool running, its leader counts every 5 s or more and Stats
	// reads that count. The pool serves a type no task has: it runs none.
	if err := withLeader(ctx, db, q, func() error {
		return time1("Stats, a pool running (reads the leader's count)", func() error { _, err := q.Stats(ctx); return err })
	}); err != nil {
		return err
	}
	for _, state := range append([]backie.TaskState{""}, backie.AllStates...) {
		for _, f := range []backie.ListFilter{
			{State: state},
			{State: state, Oldest: true},
			{State: state, Types: []backie.TaskType{"t1"}},
		} {
			name := fmt.Sprintf("ListTasks state=%q oldest=%v types=%v", f.State, f.Oldest, f.Types)
			if err := time1(name+", first page", func() error { _, err := q.ListTasks(ctx, f); return err }); err != nil {
				return err
			}
			// The 20th page: keyset pagination reads from where page 19 ended.
			deep := f
			for range 19 {
				p, err := q.ListTasks(ctx, deep)
				if err != nil {
					return err
				}
				if p.Next == "" {
					break
				}
				deep.Cursor = p.Next
			}
			if err := time1(name+", 20th page", func() error { _, err := q.ListTasks(ctx, deep); return err }); err != nil {
				return err
			}
		}
	}
	return nil
}

// withLeader runs f while a worker pool is up and its leader has counted
// the table.
func withLeader(ctx context.Context, db *pgxpool.Pool, q *backie.PgQueue, f func() error) error {
	wp, err := backie.NewWorkerPool(q, backie.Config{Workers: 1, TaskTypes: []backie.TaskType{"backie-scale-idle"},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	if err := wp.Start(ctx); err != nil {
		return err
	}
	defer func() { _ = wp.Shutdown(context.Background()) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var counted bool
		if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT FROM backie_counts)`).Scan(&counted); err != nil {
			return err
		}
		if counted {
			return f()
		}
		if time.Now().After(deadline) {
			return errors.New("the pool's leader did not count the table within 2 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func report(name string, ds []time.Duration) {
	slices.Sort(ds)
	fmt.Printf("%-70s median %8.2f ms  (%.2f – %.2f)\n", name, ms(ds[len(ds)/2]), ms(ds[0]), ms(ds[len(ds)-1]))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
