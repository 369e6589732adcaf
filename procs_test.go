package backie_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// Promises that cross processes are tested with worker pools in child
// processes: the test binary runs itself with TestHelperProcess and a
// childSpec in the environment, and the parent stops them (stdin closed)
// or kills them (SIGKILL).

const (
	childSpecEnv = "BACKIE_CHILD_SPEC"
	childReady   = "backie-child-ready"
)

// childSpec is the worker pool a child runs. Its tasks are wpTasks that
// record each run in the table runs (task_id, pid, attempt, at) and then
// do what their N says: N < 0 blocks until the task's context ends and
// records the context's cause in causes.
type childSpec struct {
	Schema               string        `json:"schema"`
	Workers              int           `json:"workers"`
	DisableNotifications bool          `json:"disable_notifications"`
	PollInterval         time.Duration `json:"poll_interval"`
	HeartbeatInterval    time.Duration `json:"heartbeat_interval"`
	HeartbeatTimeout     time.Duration `json:"heartbeat_timeout"`
	RescueInterval       time.Duration `json:"rescue_interval"`
	KeepAll              bool          `json:"keep_all"`
	TaskTypes            []string      `json:"task_types"`
	// Periodic, when set, is the cron expression of a periodic task named
	// "tick" that enqueues wpTask{N: 0}.
	Periodic string `json:"periodic"`
}

// childTables creates the tables the children's tasks write to.
func childTables(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	_, err := db.Exec(context.Background(), `
		CREATE TABLE runs (task_id uuid NOT NULL, pid int NOT NULL, attempt int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
		CREATE TABLE causes (task_id uuid NOT NULL, cause text NOT NULL)`)
	require.NoError(t, err)
}

// TestHelperProcess is a child process of the multi-process tests, not a
// test: without its environment it skips. It runs the worker pool of its
// childSpec, says it is ready on stdout, and stops when its stdin closes.
func TestHelperProcess(t *testing.T) {
	raw := os.Getenv(childSpecEnv)
	if raw == "" {
		t.Skip("child process of the multi-process tests")
	}
	var spec childSpec
	require.NoError(t, json.Unmarshal([]byte(raw), &spec))
	db := dbtest.PoolFor(t, spec.Schema, 8)
	pid := os.Getpid()
	reg := backie.NewRegistry()
	require.NoError(t, wpRegister(reg, func(ctx context.Context, _ backie.Queue, task *wpTask) error {
		rec, _ := backie.RecordFromContext(ctx)
		if _, err := db.Exec(context.WithoutCancel(ctx), `INSERT INTO runs (task_id, pid, attempt) VALUES ($1, $2, $3)`,
			rec.ID, pid, rec.Attempt); err != nil {
			return err
		}
		if task.N < 0 {
			<-ctx.Done()
			_, err := db.Exec(context.WithoutCancel(ctx), `INSERT INTO causes (task_id, cause) VALUES ($1, $2)`,
				rec.ID, context.Cause(ctx).Error())
			if err != nil {
				return err
			}
			return ctx.Err()
		}
		return nil
	}))
	cfg := backie.Config{
		Workers:              spec.Workers,
		DisableNotifications: spec.DisableNotifications,
		PollInterval:         spec.PollInterval,
		HeartbeatInterval:    spec.HeartbeatInterval,
		HeartbeatTimeout:     spec.HeartbeatTimeout,
		RescueInterval:       spec.RescueInterval,
		ShutdownGrace:        5 * time.Second,
		Logger:               backie.DiscardLogger(),
	}
	if spec.KeepAll {
		cfg.Retention = backie.KeepAll
	}
	for _, typ := range spec.TaskTypes {
		cfg.TaskTypes = append(cfg.TaskTypes, backie.TaskType(typ))
	}
	if spec.Periodic != "" {
		cfg.Periodic = []backie.PeriodicTask{{Name: "tick", Cron: spec.Periodic,
			NewTask: func() backie.Task { return &wpTask{Key: "tick"} }}}
	}
	wp, err := backie.NewWorkerPool(backie.NewPgQueue(db, reg), cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, wp.Start(ctx))
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	fmt.Println(childReady)
	select {
	case <-stdinClosed:
	case <-time.After(3 * time.Minute):
		t.Error("child: stdin was not closed within 3 minutes")
	}
	cancel()
	wp.Wait()
}

// child is a running child process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *lineWatcher
}

// startChild starts a child running spec's pool and waits until it is
// ready. The child is killed at the end of the test if still running.
func startChild(t *testing.T, spec childSpec) *child {
	t.Helper()
	raw, err := json.Marshal(spec)
	require.NoError(t, err)
	out := &lineWatcher{want: childReady + "\n", ready: make(chan struct{})}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.timeout=4m")
	cmd.Env = append(os.Environ(), dbtest.EnvURL+"="+dbtest.URL(t), childSpecEnv+"="+string(raw))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd, stdin: stdin, out: out}
	t.Cleanup(func() {
		_ = c.stdin.Close()
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	})
	select {
	case <-out.ready:
	case <-time.After(60 * time.Second):
		t.Fatalf("child did not start; output:\n%s", out.String())
	}
	return c
}

// kill kills the child with SIGKILL: no graceful stop, no cleanup.
func (c *child) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
	_ = c.cmd.Wait()
}

// stop closes the child's stdin and waits for its clean exit.
func (c *child) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, c.stdin.Close())
	exited := make(chan error, 1)
	go func() { exited <- c.cmd.Wait() }()
	select {
	case err := <-exited:
		require.NoError(t, err, "child output:\n%s", c.out.String())
		require.Contains(t, c.out.String(), "PASS")
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-exited
		t.Fatalf("child did not exit; output:\n%s", c.out.String())
	}
}

// lineWatcher keeps a child's output and closes ready when want appears.
type lineWatcher struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	want  string
	ready chan struct{}
	seen  bool
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.seen && strings.Contains(w.buf.String(), w.want) {
		w.seen = true
		close(w.ready)
	}
	return len(p), nil
}

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor polls cond every 20 ms until it holds or timeout passes: for
// what happens in other processes, which send no signal to the test.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
