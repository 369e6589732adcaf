package backie_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// Environment of the child processes of TestManyProcesses.
const (
	wpChildSchemaEnv = "BACKIE_WP_CHILD_SCHEMA"
	wpChildKeyEnv    = "BACKIE_WP_CHILD_KEY"
	wpChildReady     = "backie-wp-child-ready"
)

// TestHelperProcessWorkerPool is a child process of TestManyProcesses, not
// a test: without its environment it skips. It runs a worker pool on the
// parent's schema whose tasks record their execution in the executions
// table, says it is ready on stdout, and stops when its stdin is closed.
func TestHelperProcessWorkerPool(t *testing.T) {
	t.Parallel()
	schema, key := os.Getenv(wpChildSchemaEnv), os.Getenv(wpChildKeyEnv)
	if schema == "" || key == "" {
		t.Skip("child process of TestManyProcesses")
	}
	db := dbtest.PoolFor(t, schema, 6)
	pid := os.Getpid()
	reg := backie.NewRegistry()
	require.NoError(t, wpRegister(reg, func(ctx context.Context, _ backie.Queue, _ *wpTask) error {
		rec, ok := backie.RecordFromContext(ctx)
		if !ok {
			return fmt.Errorf("no record in context")
		}
		_, err := db.Exec(ctx, `INSERT INTO executions (task_id, pid, attempt) VALUES ($1, $2, $3)`, rec.ID, pid, rec.Attempt)
		return err
	}))

	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	wp, cancel := wpStart(t, backie.NewPgQueue(db, reg), backie.Config{Workers: 10, PollInterval: 100 * time.Millisecond})
	fmt.Println(wpChildReady)
	select {
	case <-stdinClosed:
	case <-time.After(2 * time.Minute):
		t.Fatal("child: stdin was not closed within 2 minutes")
	}
	cancel()
	wpStopped(t, wp)
}

// wpLineWatcher is a child's stdout: it keeps the output and closes ready
// when the ready line appears.
type wpLineWatcher struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan struct{}
	seen  bool
}

func (w *wpLineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.seen && strings.Contains(w.buf.String(), wpChildReady+"\n") {
		w.seen = true
		close(w.ready)
	}
	return len(p), nil
}

func (w *wpLineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestManyProcesses runs 3,000 tasks on worker pools in three processes
// sharing one schema: each task records its execution in a side table, and
// each ran exactly once.
func TestManyProcesses(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts child processes")
	}
	const (
		children = 3
		total    = 3000
	)
	schema := dbtest.Schema(t)
	db := dbtest.PoolFor(t, schema, 4)
	ctx := context.Background()
	require.NoError(t, backie.Migrate(ctx, db, backie.MigrateConfig{}))
	_, err := db.Exec(ctx, `CREATE TABLE executions (task_id uuid NOT NULL, pid int NOT NULL, attempt int NOT NULL)`)
	require.NoError(t, err)
	env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error {
		return fmt.Errorf("tasks must run in the child processes")
	})

	type child struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   *wpLineWatcher
	}
	kids := make([]*child, children)
	for i := range kids {
		out := &wpLineWatcher{ready: make(chan struct{})}
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessWorkerPool$", "-test.count=1", "-test.timeout=3m")
		cmd.Env = append(os.Environ(),
			dbtest.EnvURL+"="+dbtest.URL(t),
			wpChildSchemaEnv+"="+schema,
			wpChildKeyEnv+"="+env.key,
		)
		cmd.Stdout, cmd.Stderr = out, out
		cmd.WaitDelay = 5 * time.Second
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		k := &child{cmd: cmd, stdin: stdin, out: out}
		kids[i] = k
		t.Cleanup(func() { // on failure: do not leave children behind
			_ = k.stdin.Close()
			if k.cmd.ProcessState == nil {
				_ = k.cmd.Process.Kill()
				_ = k.cmd.Wait()
			}
		})
	}
	for i, k := range kids {
		select {
		case <-k.out.ready:
		case <-time.After(60 * time.Second):
			t.Fatalf("child %d did not start; output:\n%s", i, k.out.String())
		}
	}

	// All children listen; enqueue.
	ids := make(map[backie.TaskID]bool, total)
	for start := 0; start < total; start += 500 {
		tasks := make([]*wpTask, 0, 500)
		for n := start; n < start+500; n++ {
			tasks = append(tasks, env.task(n))
		}
		for _, rec := range env.create(t, tasks...) {
			ids[rec.ID] = true
		}
	}
	require.Len(t, ids, total)

	require.Eventually(t, func() bool {
		return env.count(t, `SELECT count(*) FROM backie_tasks`) == 0
	}, 60*time.Second, 20*time.Millisecond, "the children did not run every task")

	// Stop the children: close their stdin and wait for a clean exit.
	for _, k := range kids {
		require.NoError(t, k.stdin.Close())
	}
	for i, k := range kids {
		exited := make(chan error, 1)
		go func() { exited <- k.cmd.Wait() }()
		select {
		case err := <-exited:
			require.NoError(t, err, "child %d; output:\n%s", i, k.out.String())
			require.Contains(t, k.out.String(), "PASS", "child %d output", i)
		case <-time.After(30 * time.Second):
			_ = k.cmd.Process.Kill()
			<-exited
			t.Fatalf("child %d did not exit; output:\n%s", i, k.out.String())
		}
	}

	require.Equal(t, int64(total), env.count(t, `SELECT count(*) FROM executions`))
	require.Equal(t, int64(total), env.count(t, `SELECT count(DISTINCT task_id) FROM executions`), "a task ran twice")
	require.Zero(t, env.count(t, `SELECT count(*) FROM executions WHERE attempt <> 1`), "a task was claimed twice")
	rows, err := db.Query(ctx, `SELECT task_id FROM executions`)
	require.NoError(t, err)
	for rows.Next() {
		var id backie.TaskID
		require.NoError(t, rows.Scan(&id))
		require.True(t, ids[id], "unknown task %s executed", id)
	}
	require.NoError(t, rows.Err())
	require.Zero(t, env.count(t, `SELECT count(*) FROM backie_tasks`))

	var per []string
	rows, err = db.Query(ctx, `SELECT pid, count(*) FROM executions GROUP BY pid ORDER BY pid`)
	require.NoError(t, err)
	for rows.Next() {
		var pid, n int64
		require.NoError(t, rows.Scan(&pid, &n))
		per = append(per, strconv.FormatInt(pid, 10)+":"+strconv.FormatInt(n, 10))
	}
	require.NoError(t, rows.Err())
	t.Logf("executions per process: %s", strings.Join(per, " "))
}
