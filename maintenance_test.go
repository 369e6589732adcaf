package backie_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// recordingHandler is a slog.Handler that sends the records whose message
// is msg to ch, and drops the others.
type recordingHandler struct {
	msg string
	ch  chan slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.ch <- r.Clone()
	}
	return nil
}

// attrs returns r's attributes as strings.
func attrs(r slog.Record) map[string]string {
	m := map[string]string{}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

// TestLeaderReportsUnservedTasks: a pool claims only the names it
// registered (and only its types), so that processes with different task
// sets share a table; a task that no live pool serves would wait forever.
// The leader reports every name and type with tasks due for over a minute
// that no live pool serves, and not those another live pool serves.
func TestLeaderReportsUnservedTasks(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 6})
	env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error { return nil })
	ctx := context.Background()

	// The enqueuing side knows names that the pool does not.
	enqReg := backie.NewRegistry()
	require.NoError(t, backie.Register[*wpTask](enqReg, "wp_task"))
	require.NoError(t, backie.Register[*wpOtherTask](enqReg, "wp_other"))
	require.NoError(t, backie.Register[*wpFakeTask](enqReg, "wp_fake"))
	enq := backie.NewPgQueue(db, enqReg)
	long := backie.RunAt(time.Now().Add(-2 * time.Minute))
	otherType := env.task(1)
	otherType.Type = "other"
	for _, task := range []backie.Task{otherType, &wpOtherTask{Key: env.key}, &wpFakeTask{Key: env.key}} {
		_, err := enq.CreateTask(ctx, task, long)
		require.NoError(t, err)
	}
	// Another live process serves wp_fake.
	_, err := db.Exec(ctx, `INSERT INTO backie_processes (id, host, pid, task_names, task_types, workers, heartbeat_at)
		VALUES (gen_random_uuid(), 'elsewhere', 1, '{wp_fake}', NULL, 1, now() + interval '1 hour')`)
	require.NoError(t, err)

	warnings := make(chan slog.Record, 16)
	log := slog.New(&recordingHandler{
		msg: "backie: tasks are due but no live pool serves their name and type; register the name in a pool's registry (and its type in Config.TaskTypes)",
		ch:  warnings,
	})
	wpStart(t, env.q, backie.Config{Workers: 1, TaskTypes: []backie.TaskType{backie.TaskTypeDefault}, Logger: log,
		HeartbeatInterval: 20 * time.Millisecond, HeartbeatTimeout: time.Second})

	// One look reports in name, type order: wp_fake would come first.
	first := attrs(wpRecv(t, warnings, "the first warning"))
	second := attrs(wpRecv(t, warnings, "the second warning"))
	require.Equal(t, map[string]string{"task_name": "wp_other", "task_type": "common", "tasks": "1"},
		map[string]string{"task_name": first["task_name"], "task_type": first["task_type"], "tasks": first["tasks"]})
	require.Equal(t, map[string]string{"task_name": "wp_task", "task_type": "other", "tasks": "1"},
		map[string]string{"task_name": second["task_name"], "task_type": second["task_type"], "tasks": second["tasks"]})
	require.Contains(t, first["due_for"], "2m")
}

// wpFakeTask is served by a process the test fakes in backie_processes.
type wpFakeTask struct {
	backie.TaskDefaults
	Key string `json:"key"`
}

func (*wpFakeTask) Run(context.Context, backie.Queue) error { return nil }
