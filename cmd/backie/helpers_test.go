package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// runTimeout bounds one run of the command in a test.
const runTimeout = 2 * time.Minute

// result is how a run of the command ended.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

// runCmd runs the built command with args, stdin and, in its environment,
// env added to the test's own (without DATABASE_URL unless env sets it).
func runCmd(t *testing.T, stdin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run backie %q: %v", args, err)
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// environ is the test's environment without DATABASE_URL.
func environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DATABASE_URL=") {
			out = append(out, kv)
		}
	}
	return out
}

// env is a schema of its own in the test database, and a queue on it that
// knows the test's task types.
type env struct {
	t      *testing.T
	url    string
	schema string
	pool   *pgxpool.Pool
	q      *backie.PgQueue
	// release ends the Run of the block tasks.
	release chan struct{}
	started chan backie.TaskID
}

// newEnv returns an env on a fresh schema, migrated unless migrated is
// false.
func newEnv(t *testing.T, migrated bool) *env {
	t.Helper()
	e := &env{t: t, url: dbtest.URL(t), schema: dbtest.Schema(t), release: make(chan struct{}), started: make(chan backie.TaskID, 8)}
	e.pool = dbtest.PoolFor(t, e.schema, 4)
	if migrated {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, backie.Migrate(ctx, e.pool, backie.MigrateConfig{}))
	}
	reg := backie.NewRegistry()
	require.NoError(t, backie.Register[*mailTask](reg, "send_mail"))
	require.NoError(t, backie.Register[*failTask](reg, "charge_card"))
	require.NoError(t, backie.Register[*crashTask](reg, "crash"))
	require.NoError(t, backie.RegisterFunc(reg, "block", func() *blockTask {
		return &blockTask{release: e.release, started: e.started}
	}))
	e.q = backie.NewPgQueue(e.pool, reg)
	return e
}

// run runs the command on the env's database and schema.
func (e *env) run(args ...string) result {
	e.t.Helper()
	return runCmd(e.t, "", nil, append([]string{"--url", e.url, "--schema", e.schema}, args...)...)
}

// runJSON runs the command with --json, checks that it succeeded, and
// decodes its stdout into v.
func (e *env) runJSON(v any, args ...string) {
	e.t.Helper()
	r := e.run(append([]string{"--json"}, args...)...)
	require.Equal(e.t, 0, r.code, "%s", r)
	require.NoError(e.t, json.Unmarshal([]byte(r.stdout), v), "%s", r)
}

// create enqueues task with opts.
func (e *env) create(task backie.Task, opts ...backie.CreateOption) *backie.TaskRecord {
	e.t.Helper()
	rec, err := e.q.CreateTask(context.Background(), task, opts...)
	require.NoError(e.t, err)
	return rec
}

// runOne creates task and runs it at once, keeping it when it succeeds.
func (e *env) runOne(task backie.Task) *backie.TaskRecord {
	e.t.Helper()
	rec := e.create(task)
	ran, _, err := e.q.RunNext(context.Background(), backie.RunNextOptions{
		AttemptOptions: backie.AttemptOptions{Retention: backie.KeepAll},
		Types:          []backie.TaskType{rec.Type},
	})
	require.NoError(e.t, err)
	require.NotNil(e.t, ran)
	require.Equal(e.t, rec.ID, ran.ID, "RunNext ran another task")
	return e.find(rec.ID)
}

// find reads a task from the table.
func (e *env) find(id backie.TaskID) *backie.TaskRecord {
	e.t.Helper()
	rec, err := e.q.FindTask(context.Background(), id)
	require.NoError(e.t, err)
	return rec
}

// startRunning claims a block task and leaves it running until the test
// ends.
func (e *env) startRunning() *backie.TaskRecord {
	e.t.Helper()
	rec := e.create(&blockTask{})
	done := make(chan error, 1)
	go func() {
		_, _, err := e.q.RunNext(context.Background(), backie.RunNextOptions{Types: []backie.TaskType{"blocking"}})
		done <- err
	}()
	e.t.Cleanup(func() {
		close(e.release)
		if err := <-done; err != nil {
			e.t.Errorf("run the block task: %v", err)
		}
	})
	select {
	case id := <-e.started:
		require.Equal(e.t, rec.ID, id)
	case <-time.After(time.Minute):
		e.t.Fatal("the block task did not start within a minute")
	}
	return e.find(rec.ID)
}

// seeded are the tasks of seed, by what they are.
type seeded struct {
	done, failed, crashed, cancelled, scheduled *backie.TaskRecord
	ready                                       []*backie.TaskRecord // email ×3 (one urgent), sms ×2
}

// seed fills the schema with a task in each state but running.
func (e *env) seed() seeded {
	e.t.Helper()
	var s seeded
	s.done = e.runOne(&mailTask{To: "done@example.com", Typ: "email"})
	s.failed = e.runOne(&failTask{Invoice: "INV-1"})
	s.crashed = e.runOne(&crashTask{})
	for _, m := range []*mailTask{
		{To: "a@example.com", Typ: "email"},
		{To: "b@example.com", Typ: "email", Prio: backie.PriorityUrgent},
		{To: "c@example.com", Typ: "email"},
		{To: "+33600000001", Typ: "sms"},
		{To: "+33600000002", Typ: "sms", Prio: backie.PriorityLowest},
	} {
		s.ready = append(s.ready, e.create(m))
	}
	s.scheduled = e.create(&mailTask{To: "later@example.com", Typ: "email"}, backie.RunAfter(time.Hour))
	c := e.create(&mailTask{To: "cancel@example.com", Typ: "email"})
	_, err := e.q.CancelTask(context.Background(), c.ID)
	require.NoError(e.t, err)
	s.cancelled = e.find(c.ID)
	return s
}

// exec runs sql on the env's schema.
func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	_, err := e.pool.Exec(context.Background(), sql, args...)
	require.NoError(e.t, err)
}

// tableExists says whether table is in the env's schema.
func (e *env) tableExists(table string) bool {
	e.t.Helper()
	var ok bool
	require.NoError(e.t, e.pool.QueryRow(context.Background(), `SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL`,
		e.schema, table).Scan(&ok))
	return ok
}

// dropSchemaAtEnd drops schema, if it exists, when the test ends.
func dropSchemaAtEnd(t *testing.T, schema string) {
	t.Helper()
	pool := dbtest.PoolFor(t, "public", 1)
	t.Cleanup(func() {
		_, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		if err != nil {
			t.Errorf("drop schema %q: %v", schema, err)
		}
	})
}

// The tasks of the tests.

// mailTask succeeds. Its type and priority come from its payload.
type mailTask struct {
	backie.TaskDefaults
	To   string `json:"to"`
	Typ  string `json:"typ,omitempty"`
	Prio int    `json:"prio,omitempty"`
}

func (m *mailTask) TaskType() backie.TaskType {
	if m.Typ == "" {
		return backie.TaskTypeDefault
	}
	return backie.TaskType(m.Typ)
}

func (m *mailTask) Priority() int {
	if m.Prio == 0 {
		return backie.PriorityDefault
	}
	return m.Prio
}

func (*mailTask) Run(context.Context, backie.Queue) error { return nil }

// failTask fails for good.
type failTask struct {
	backie.TaskDefaults
	Invoice string `json:"invoice"`
}

func (*failTask) TaskType() backie.TaskType { return "billing" }
func (*failTask) Run(context.Context, backie.Queue) error {
	return backie.Permanent(errors.New("charge invoice: card_declined"))
}

// crashTask panics, with no retries left.
type crashTask struct {
	backie.TaskDefaults
	Note string `json:"note"`
}

func (*crashTask) TaskType() backie.TaskType { return "crashy" }
func (*crashTask) MaxRetries() int           { return 0 }
func (*crashTask) Run(context.Context, backie.Queue) error {
	panic("index out of range [3] with length 3")
}

// blockTask runs until the test ends.
type blockTask struct {
	backie.TaskDefaults
	Note    string `json:"note"`
	release chan struct{}
	started chan backie.TaskID
}

func (*blockTask) TaskType() backie.TaskType { return "blocking" }
func (b *blockTask) Run(ctx context.Context, _ backie.Queue) error {
	rec, _ := backie.RecordFromContext(ctx)
	b.started <- rec.ID
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return nil
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
