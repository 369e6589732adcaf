package backie_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// Go benchmarks of the hot paths, per task. Run them with
//
//	go test -run xxx -bench . -benchtime 20000x
//
// For whole workloads (throughput with many pools, pickup latency), see
// cmd/backie-bench.

// benchNoopTask does nothing; it counts its runs in the benchDrainSink
// found in its context.
type benchNoopTask struct {
	backie.TaskDefaults
	Seq int `json:"s"`
}

type benchDrainSinkKey struct{}

type benchDrainSink struct {
	target  int64
	done    atomic.Int64
	allDone chan struct{}
}

func (t *benchNoopTask) Run(ctx context.Context, _ backie.Queue) error {
	if s, ok := ctx.Value(benchDrainSinkKey{}).(*benchDrainSink); ok && s.done.Add(1) == s.target {
		close(s.allDone)
	}
	return nil
}

func newBenchQueue(b *testing.B, maxConns int32) *backie.PgQueue {
	b.Helper()
	reg := backie.NewRegistry()
	if err := backie.Register[*benchNoopTask](reg, "bench_noop"); err != nil {
		b.Fatal(err)
	}
	return backie.NewPgQueue(dbtest.Pool(b, dbtest.Options{MaxConns: maxConns}), reg)
}

// BenchmarkCreateTask enqueues one task per CreateTask call, one call at a
// time: ns/op and allocs/op are per task.
func BenchmarkCreateTask(b *testing.B) {
	q := newBenchQueue(b, 4)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := q.CreateTask(ctx, &benchNoopTask{Seq: i}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkCreateTasks1000 enqueues b.N tasks with CreateTasks in batches
// of 1000: ns/op and allocs/op are per task.
func BenchmarkCreateTasks1000(b *testing.B) {
	const batch = 1000
	q := newBenchQueue(b, 4)
	ctx := context.Background()
	tasks := make([]backie.Task, 0, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for first := 0; first < b.N; first += batch {
		tasks = tasks[:0]
		for i := first; i < min(first+batch, b.N); i++ {
			tasks = append(tasks, &benchNoopTask{Seq: i})
		}
		if _, err := q.CreateTasks(ctx, tasks); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkDrain pre-inserts b.N tasks (untimed), then times a pool of 100
// workers running them all, until the pool has stopped and recorded every
// result: ns/op and allocs/op are per task, across the whole process.
func BenchmarkDrain(b *testing.B) {
	const batch = 1000
	q := newBenchQueue(b, 8)
	ctx := context.Background()
	tasks := make([]backie.Task, 0, batch)
	for first := 0; first < b.N; first += batch {
		tasks = tasks[:0]
		for i := first; i < min(first+batch, b.N); i++ {
			tasks = append(tasks, &benchNoopTask{Seq: i})
		}
		if _, err := q.CreateTasks(ctx, tasks); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := q.Pool().Exec(ctx, `VACUUM ANALYZE backie_tasks`); err != nil {
		b.Fatal(err)
	}
	pool, err := backie.NewWorkerPool(q, backie.Config{Workers: 100, Logger: backie.DiscardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	sink := &benchDrainSink{target: int64(b.N), allDone: make(chan struct{})}
	runCtx, cancel := context.WithCancel(context.WithValue(ctx, benchDrainSinkKey{}, sink))
	defer cancel()

	b.ReportAllocs()
	b.ResetTimer()
	if err := pool.Start(runCtx); err != nil {
		b.Fatal(err)
	}
	select {
	case <-sink.allDone:
	case <-time.After(time.Minute + time.Duration(b.N)*time.Millisecond):
		cancel()
		pool.Wait()
		b.Fatalf("drain stalled: %d of %d tasks run", sink.done.Load(), b.N)
	}
	cancel()
	pool.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")

	var left int64
	if err := q.Pool().QueryRow(ctx, `SELECT count(*) FROM backie_tasks`).Scan(&left); err != nil {
		b.Fatal(err)
	}
	if left != 0 || sink.done.Load() != int64(b.N) {
		b.Fatalf("after the drain: %d runs for %d tasks, %d left in the table", sink.done.Load(), b.N, left)
	}
}
