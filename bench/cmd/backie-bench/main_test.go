package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-workloads", "drain,nope"},
		{"-retention", "keep-some"},
		{"-workers", "2", "-pools", "4"},
		{"-runs", "0"},
		{"-n", "-1", "-workloads", "batch"},
		{"extra"},
	} {
		var stdout, stderr bytes.Buffer
		assert.Equal(t, 2, run(args, &stdout, &stderr), "%q", args)
		assert.NotEmpty(t, stderr.String(), "%q", args)
		assert.Empty(t, stdout.String(), "%q", args)
	}
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 0, run([]string{"-h"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "-workloads")

	// Without -n (or with -n 0) each workload takes its default: the flags
	// are good, and the run fails only on the database it cannot reach.
	for _, args := range [][]string{{"-workloads", "drain,batch"}, {"-n", "0"}} {
		stdout.Reset()
		stderr.Reset()
		args = append(args, "-url", "postgres://postgres@127.0.0.1:1/none?connect_timeout=2")
		assert.Equal(t, 1, run(args, &stdout, &stderr), "%q: %s", args, stderr.String())
		assert.NotContains(t, stderr.String(), "must be", "%q", args)
	}
}

func TestSmallRun(t *testing.T) {
	url := dbtest.URL(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"-url", url, "-n", "300", "-workers", "10", "-pools", "2", "-goroutines", "4",
		"-batch-size", "100", "-rate", "100", "-duration", "500ms", "-poll", "50ms", "-runs", "2"}, &stdout, &stderr)
	require.Equal(t, 0, code, "stderr:\n%s", stderr.String())

	// One JSON line per workload, in order, then the table.
	out := stdout.String()
	sc := bufio.NewScanner(strings.NewReader(out))
	var workloads []string
	for sc.Scan() && strings.HasPrefix(sc.Text(), "{") {
		var res struct {
			Workload    string            `json:"workload"`
			N           int               `json:"n"`
			TasksPerSec float64           `json:"tasks_per_sec"`
			Runs        []json.RawMessage `json:"runs"`
			Error       string            `json:"error"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &res), sc.Text())
		assert.Empty(t, res.Error)
		assert.Greater(t, res.TasksPerSec, 0.0, sc.Text())
		assert.Len(t, res.Runs, 2)
		workloads = append(workloads, res.Workload)
	}
	assert.Equal(t, []string{"drain", "enqueue", "batch", "latency"}, workloads)
	assert.Contains(t, out, "tasks/s")
	assert.Contains(t, out, "median of 2 runs")

	// The bench's schema is gone.
	m := regexp.MustCompile(`schema (backie_bench_[0-9a-f]+)`).FindStringSubmatch(stderr.String())
	require.NotNil(t, m, stderr.String())
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var exists bool
	require.NoError(t, conn.QueryRow(context.Background(),
		`SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, m[1]).Scan(&exists))
	assert.False(t, exists, "schema %s was not dropped", m[1])
}

func TestJSONOnlyAndGivenSchema(t *testing.T) {
	schema := dbtest.Schema(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"-url", dbtest.URL(t), "-schema", schema, "-workloads", "batch", "-n", "50",
		"-batch-size", "20", "-json-only"}, &stdout, &stderr)
	require.Equal(t, 0, code, "stderr:\n%s", stderr.String())
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, 1, stdout.String())
	assert.Contains(t, lines[0], `"workload":"batch"`)

	// A given schema is kept, and a second run refuses to truncate tasks
	// it did not create.
	pool := dbtest.PoolFor(t, schema, 2)
	_, err := pool.Exec(context.Background(), `INSERT INTO backie_tasks (id, task_name, payload, timeout_msecs)
		VALUES (gen_random_uuid(), 'someone_elses', '{}', 1000)`)
	require.NoError(t, err)
	stdout.Reset()
	stderr.Reset()
	code = run([]string{"-url", dbtest.URL(t), "-schema", schema, "-workloads", "batch", "-n", "10"}, &stdout, &stderr)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), "holds 1 tasks")
}
