// Command backie-recovery measures how long the tasks of a worker pool
// killed with SIGKILL take to run again, with the default Config.
//
// Each round, in a schema of its own: a child process (this command with
// -child) starts a pool with the default Config, becomes the leader, and
// starts -tasks tasks that block; this process starts a second pool with
// the default Config; then the child is killed with SIGKILL, and the round
// measures the time from the kill until every task has started again in the
// second pool (which must first take the leadership over, then see the
// child's heartbeat stop). It prints each round and the median.
//
//	go run ./cmd/backie-recovery -url 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable' -rounds 5
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backie-go/backie"
)

// Block blocks until its context ends, after recording its start.
type Block struct {
	backie.TaskDefaults
	db *pgxpool.Pool
	N  int `json:"n"`
}

func (b *Block) Run(ctx context.Context, _ backie.Queue) error {
	rec, _ := backie.RecordFromContext(ctx)
	if _, err := b.db.Exec(ctx, `INSERT INTO starts (task_id, attempt, pid) VALUES ($1, $2, $3)`,
		rec.ID, rec.Attempt, os.Getpid()); err != nil {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

func main() {
	url := flag.String("url", os.Getenv("DATABASE_URL"), "PostgreSQL URL")
	rounds := flag.Int("rounds", 5, "kills to measure")
	tasks := flag.Int("tasks", 5, "tasks the killed pool holds")
	child := flag.String("child", "", "(internal) run the pool to kill in this schema")
	flag.Parse()
	if *url == "" {
		*url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	var err error
	if *child != "" {
		err = runChild(*url, *child)
	} else {
		err = measure(*url, *rounds, *tasks)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "backie-recovery:", err)
		os.Exit(1)
	}
}

func connect(ctx context.Context, url, schema string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	return pgxpool.NewWithConfig(ctx, cfg)
}

func newQueue(db *pgxpool.Pool) (*backie.PgQueue, error) {
	reg := backie.NewRegistry()
	if err := backie.RegisterFunc(reg, "block", func() *Block { return &Block{db: db} }); err != nil {
		return nil, err
	}
	return backie.NewPgQueue(db, reg), nil
}

// runChild runs a pool with the default Config until it is killed.
func runChild(url, schema string) error {
	ctx := context.Background()
	db, err := connect(ctx, url, schema)
	if err != nil {
		return err
	}
	q, err := newQueue(db)
	if err != nil {
		return err
	}
	pool, err := backie.NewWorkerPool(q, backie.Config{Logger: backie.DiscardLogger()})
	if err != nil {
		return err
	}
	if err := pool.Start(ctx); err != nil {
		return err
	}
	fmt.Println("ready")
	select {} // until SIGKILL
}

func measure(url string, rounds, tasks int) error {
	var took []time.Duration
	for r := 1; r <= rounds; r++ {
		d, err := round(url, tasks)
		if err != nil {
			return fmt.Errorf("round %d: %w", r, err)
		}
		fmt.Printf("round %d: every task running again %v after SIGKILL\n", r, d.Round(time.Millisecond))
		took = append(took, d)
	}
	slices.Sort(took)
	fmt.Printf("median of %d: %v (%v – %v)\n", len(took), took[len(took)/2].Round(time.Millisecond),
		took[0].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	return nil
}

func round(url string, tasks int) (time.Duration, error) {
	ctx := context.Background()
	var b [4]byte
	_, _ = rand.Read(b[:])
	schema := "backie_recovery_" + hex.EncodeToString(b[:])
	db, err := connect(ctx, url, schema)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	defer func() {
		_, _ = db.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	}()
	if err := backie.Migrate(ctx, db, backie.MigrateConfig{Schema: schema}); err != nil {
		return 0, err
	}
	if _, err := db.Exec(ctx, `CREATE TABLE starts (task_id uuid, attempt int, pid int)`); err != nil {
		return 0, err
	}
	q, err := newQueue(db)
	if err != nil {
		return 0, err
	}

	// The pool to kill: it starts first, so it is the leader.
	cmd := exec.Command(os.Args[0], "-url", url, "-child", schema)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line := make([]byte, 6)
	if _, err := io.ReadFull(out, line); err != nil || !strings.HasPrefix(string(line), "ready") {
		return 0, fmt.Errorf("the child did not start: %v", err)
	}
	if err := waitFor(10*time.Second, func() (bool, error) {
		var n int
		err := db.QueryRow(ctx, `SELECT count(*) FROM backie_leader l JOIN backie_processes p ON p.id = l.process_id
			WHERE p.pid = $1`, cmd.Process.Pid).Scan(&n)
		return n == 1, err
	}); err != nil {
		return 0, fmt.Errorf("the child did not become the leader: %w", err)
	}
	for i := range tasks {
		if _, err := q.CreateTask(ctx, &Block{N: i}); err != nil {
			return 0, err
		}
	}
	if err := waitFor(30*time.Second, func() (bool, error) {
		var n int
		err := db.QueryRow(ctx, `SELECT count(*) FROM starts WHERE pid = $1`, cmd.Process.Pid).Scan(&n)
		return n == tasks, err
	}); err != nil {
		return 0, fmt.Errorf("the child did not start the tasks: %w", err)
	}

	// The pool that survives, with the default Config.
	pool, err := backie.NewWorkerPool(q, backie.Config{Logger: backie.DiscardLogger()})
	if err != nil {
		return 0, err
	}
	runCtx, stop := context.WithCancel(ctx)
	if err := pool.Start(runCtx); err != nil {
		stop()
		return 0, err
	}
	defer func() { stop(); pool.Wait() }()

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return 0, err
	}
	killed := time.Now()
	_ = cmd.Wait()
	if err := waitFor(2*time.Minute, func() (bool, error) {
		var n int
		err := db.QueryRow(ctx, `SELECT count(*) FROM starts WHERE pid = $1 AND attempt = 2`, os.Getpid()).Scan(&n)
		return n == tasks, err
	}); err != nil {
		return 0, fmt.Errorf("the tasks did not run again: %w", err)
	}
	took := time.Since(killed)
	// Let the survivor stop at once: cancel the tasks it runs.
	rows, err := db.Query(ctx, `SELECT DISTINCT task_id FROM starts`)
	if err != nil {
		return 0, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[backie.TaskID])
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if _, err := q.CancelTask(ctx, id); err != nil {
			return 0, err
		}
	}
	return took, nil
}

// waitFor polls cond every 10 ms until it holds, or fails after timeout.
func waitFor(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
