package benchkit

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestMedian(t *testing.T) {
	assert.Equal(t, Metrics{}, Median(nil))
	odd := Median([]Metrics{{TasksPerSec: 3, P99MS: 9}, {TasksPerSec: 1, P99MS: 1}, {TasksPerSec: 2, P99MS: 5}})
	assert.Equal(t, 2.0, odd.TasksPerSec)
	assert.Equal(t, 5.0, odd.P99MS)
	even := Median([]Metrics{{Seconds: 4, Enqueued: 10}, {Seconds: 1, Enqueued: 20}, {Seconds: 2, Enqueued: 30}, {Seconds: 3, Enqueued: 40}})
	assert.Equal(t, 2.5, even.Seconds)
	assert.Equal(t, int64(25), even.Enqueued)
}

func TestMedianCoversEveryFloatField(t *testing.T) {
	// A field added to Metrics but not to metricFields would silently
	// report zero: every float field must survive a median of one run.
	var m Metrics
	for i, f := range metricFields {
		*f(&m) = float64(i + 1)
	}
	b, err := json.Marshal(Median([]Metrics{m}))
	require.NoError(t, err)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(b, &fields))
	assert.Len(t, fields, len(metricFields), "metricFields must list every float field of Metrics: %s", b)
}

func TestRecorder(t *testing.T) {
	r := NewRecorder()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < 10000; i += 4 {
				r.Record(time.Duration(i+1) * time.Microsecond) // 1µs .. 10ms
			}
		})
	}
	wg.Wait()
	r.Record(-time.Second) // a clock step counts as the minimum
	l := r.Snapshot()
	assert.Equal(t, int64(10001), l.Count)
	assert.InEpsilon(t, 5.0, l.P50, 0.01)
	assert.InEpsilon(t, 9.5, l.P95, 0.01)
	assert.InEpsilon(t, 9.9, l.P99, 0.01)
	assert.InEpsilon(t, 10.0, l.Max, 0.01)

	r.Record(2 * time.Hour) // clamped, not dropped
	assert.Equal(t, int64(10002), r.Snapshot().Count)
	assert.InEpsilon(t, 3_600_000.0, r.Snapshot().Max, 0.01)
}

func TestSinkFindsDuplicatesAndLosses(t *testing.T) {
	s := newSink(70, 0, nil)
	for seq := range int64(70) {
		if seq != 40 {
			s.ran(seq)
		}
	}
	assert.Equal(t, int64(1), s.missing())
	select {
	case <-s.allDone:
		t.Fatal("allDone closed with a task missing")
	default:
	}
	s.ran(3) // a duplicate brings the count to the target
	<-s.allDone
	err := s.check()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 task runs were duplicates")
	assert.Contains(t, err.Error(), "1 tasks never ran")

	s.ran(99)
	assert.Contains(t, s.check().Error(), "unknown sequence number")

	ok := newSink(3, 0, nil)
	for seq := range int64(3) {
		ok.ran(seq)
	}
	assert.NoError(t, ok.check())
}

func TestTaskRunRecordsAndWaits(t *testing.T) {
	hist := NewRecorder()
	s := newSink(1, 20*time.Millisecond, hist)
	ctx := s.context(context.Background())
	start := time.Now()
	task := &Task{Seq: 0, EnqNS: start.Add(-5 * time.Millisecond).UnixNano()}
	require.NoError(t, task.Run(ctx, nil))
	assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)
	assert.Equal(t, int64(1), s.done.Load())
	l := hist.Snapshot()
	assert.Equal(t, int64(1), l.Count)
	assert.GreaterOrEqual(t, l.P50, 5.0)

	// Interrupted work is not counted as run.
	s2 := newSink(1, time.Hour, nil)
	cctx, cancel := context.WithCancel(s2.context(context.Background()))
	cancel()
	require.Error(t, (&Task{}).Run(cctx, nil))
	assert.Equal(t, int64(0), s2.done.Load())

	// Outside the bench (no sink) Run is a no-op.
	require.NoError(t, (&Task{}).Run(context.Background(), nil))
}

func TestParse(t *testing.T) {
	w, err := ParseWorkloads(" drain, latency ,")
	require.NoError(t, err)
	assert.Equal(t, []string{"drain", "latency"}, w)
	_, err = ParseWorkloads("drain,nope")
	assert.ErrorContains(t, err, `"nope"`)
	_, err = ParseWorkloads(" , ")
	assert.Error(t, err)

	for _, m := range []backie.RetentionMode{backie.RemoveFinished, backie.KeepAll, backie.RemoveAll} {
		got, err := ParseRetention(RetentionName(m))
		require.NoError(t, err)
		assert.Equal(t, m, got)
	}
	_, err = ParseRetention("keep-some")
	assert.Error(t, err)
}

func validConfig() Config {
	return Config{N: 10, Workers: 4, Pools: 2, Goroutines: 2, BatchSize: 5, Rate: 10, Duration: time.Second, StallTimeout: time.Second}
}

func TestConfigValidate(t *testing.T) {
	for _, w := range Workloads {
		assert.NoError(t, validConfig().Validate(w), w)
	}
	c := validConfig()
	c.Workers = 1 // fewer workers than pools
	assert.Error(t, c.Validate("drain"))
	assert.NoError(t, c.Validate("enqueue"))
	c = validConfig()
	c.Rate = 0.5 // half a task in one second
	assert.Error(t, c.Validate("latency"))
	c = validConfig()
	c.N = 0
	assert.Error(t, c.Validate("batch"))
	assert.Error(t, validConfig().Validate("other"))
}

func TestReport(t *testing.T) {
	notify := true
	results := []Result{
		{Workload: "drain", N: 1000, Workers: 100, Pools: 4, BatchSize: 1000, WorkMS: 1, Retention: "remove-finished", Notify: &notify, PollMS: 1000,
			Metrics: Metrics{Seconds: 2, TasksPerSec: 500, InsertSeconds: 0.1}, Runs: []Metrics{{}, {}, {}}},
		{Workload: "latency", N: 2000, Workers: 100, Pools: 1, Rate: 200, DurationS: 10, Goroutines: 16,
			Metrics: Metrics{Seconds: 10, TasksPerSec: 200, P50MS: 1.5, P95MS: 2.5, P99MS: 3.5, MaxMS: 9, Enqueued: 2000, Completed: 2000}},
		{Workload: "enqueue", N: 10, Goroutines: 16, Error: "boom"},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, results[1]))
	line := buf.String()
	assert.True(t, strings.HasSuffix(line, "}\n") && strings.Count(line, "\n") == 1, line)
	var back map[string]any
	require.NoError(t, json.Unmarshal([]byte(line), &back))
	for _, k := range []string{"workload", "n", "workers", "pools", "work_ms", "seconds", "tasks_per_sec", "p50_ms", "p95_ms", "p99_ms", "max_ms", "runs"} {
		assert.Contains(t, back, k)
	}

	buf.Reset()
	require.NoError(t, WriteTable(&buf, results))
	out := buf.String()
	assert.Contains(t, out, "tasks/s")
	assert.Contains(t, out, "FAILED")
	assert.Contains(t, out, "ERROR: boom")
	assert.Contains(t, out, "median of 3 runs")
	assert.Contains(t, out, "3.50")
}

func TestProgressLine(t *testing.T) {
	assert.Equal(t, "  drain    50/200 (25.0%)  10 tasks/s now, 12 avg, 1.5s",
		progressLine("drain", 50, 200, 10, 12.4, 1500*time.Millisecond))
	var (
		buf   syncBuffer
		calls atomic.Int64
		ticks = make(chan struct{})
	)
	p := startProgress(&buf, time.Millisecond, "x", 0, func() int64 {
		if calls.Add(1) == 3 { // the initial read and two ticks
			close(ticks)
		}
		return 7
	})
	select {
	case <-ticks:
	case <-time.After(10 * time.Second):
		t.Fatal("no progress tick")
	}
	p.Stop()
	p.Stop()
	assert.Contains(t, buf.String(), "  x        7  ")
	startProgress(nil, time.Second, "x", 0, nil).Stop() // disabled: no goroutine, Stop returns
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSQLStats(t *testing.T) {
	s := NewSQLStats()
	claim := "UPDATE backie_tasks AS t\n\tSET running_at = now()\n\tWHERE id = ANY($1) AND a_rather_long_condition_to_cut_off = true"
	s.add(claim, 2*time.Millisecond, 10, false, false)
	s.add(claim, 4*time.Millisecond, 20, false, false)
	s.add("DELETE FROM backie_tasks", 0, 5, true, true)
	var buf bytes.Buffer
	require.NoError(t, s.Write(&buf, "drain"))
	out := buf.String()
	assert.Contains(t, out, "SQL of drain:")
	assert.Contains(t, out, "UPDATE backie_tasks AS t SET running_at = now() WHERE id = A…")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4)
	assert.Regexp(t, `^\s+2\s+15\.0\s+3\.000\s+0\.01\s+0\s+UPDATE`, lines[2]) // busiest first
	assert.Regexp(t, `^\s+1\s+5\.0\s+-\s+-\s+1\s+DELETE`, lines[3])           // batched: no time of its own
	s.Reset()
	buf.Reset()
	require.NoError(t, s.Write(&buf, "x"))
	assert.Equal(t, 2, strings.Count(buf.String(), "\n"))
}
