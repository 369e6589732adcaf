// Package benchkit is the machinery of cmd/backie-bench: the benchmark
// task, the workloads (drain, enqueue, batch, latency), the latency
// histogram, the medians over repeated runs and the report.
//
// Workloads run against a schema the benchmark owns: they TRUNCATE its
// backie_tasks between runs. Every run checks its own result: a task lost,
// run twice, or left in the table is an error, not a number.
package benchkit

import (
	"context"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backie-go/backie"
)

// TaskName is the name Task is registered under.
const TaskName = "bench_noop"

// Task is the benchmark's task. It does nothing but wait the run's work
// time; it tells its sink (found in the context the pool was started with)
// that it ran, and, when it carries its enqueue time, how long it waited.
type Task struct {
	backie.TaskDefaults
	// Seq numbers the tasks of a run from 0, to find duplicates and losses.
	Seq int64 `json:"s"`
	// EnqNS is the enqueue time (Unix ns, taken just before CreateTask);
	// 0 when the workload does not measure pickup latency.
	EnqNS int64 `json:"t,omitempty"`
	// Type is the task's type; empty: backie.TaskTypeDefault.
	Type string `json:"y,omitempty"`
	// Sched marks a task of the scheduled workload: Run records how late
	// it started after its scheduled_at.
	Sched bool `json:"d,omitempty"`
	// Low marks a task of the Low backlog: its runs are counted apart.
	Low bool `json:"l,omitempty"`
}

// TaskType returns the task's Type.
func (t *Task) TaskType() backie.TaskType {
	if t.Type == "" {
		return backie.TaskTypeDefault
	}
	return backie.TaskType(t.Type)
}

// Run records the pickup latency, waits the work time and counts the run.
func (t *Task) Run(ctx context.Context, _ backie.Queue) error {
	s, _ := ctx.Value(sinkKey{}).(*sink)
	if s == nil {
		return nil
	}
	if t.Low {
		s.lowRan.Add(1)
		return nil
	}
	if s.hist != nil && t.EnqNS != 0 {
		s.hist.Record(time.Since(time.Unix(0, t.EnqNS)))
	}
	if rec, ok := backie.RecordFromContext(ctx); ok && s.hist != nil && t.Sched {
		s.hist.Record(time.Since(rec.ScheduledAt))
	}
	if s.work > 0 {
		timer := time.NewTimer(s.work)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return context.Cause(ctx)
		}
	}
	s.ran(t.Seq)
	return nil
}

// NewRegistry returns a registry holding Task.
func NewRegistry() (*backie.Registry, error) {
	reg := backie.NewRegistry()
	if err := backie.Register[*Task](reg, TaskName); err != nil {
		return nil, err
	}
	return reg, nil
}

type sinkKey struct{}

// sink counts the runs of the tasks of one workload run. It travels to the
// tasks in the context given to WorkerPool.Start.
type sink struct {
	work    time.Duration
	hist    *Recorder // nil: latency not measured
	target  int64
	done    atomic.Int64
	dups    atomic.Int64
	unknown atomic.Int64
	seen    []atomic.Uint32 // bit Seq: ran at least once
	allDone chan struct{}   // closed when done reaches target
	// tenth and ninth are when 10% and 90% of target ran (Unix ns).
	tenth, ninth atomic.Int64
	closeOnce    sync.Once
	lowRan       atomic.Int64
}

func newSink(target int64, work time.Duration, hist *Recorder) *sink {
	return &sink{
		work:    work,
		hist:    hist,
		target:  target,
		seen:    make([]atomic.Uint32, (target+31)/32),
		allDone: make(chan struct{}),
	}
}

func (s *sink) context(ctx context.Context) context.Context {
	return context.WithValue(ctx, sinkKey{}, s)
}

func (s *sink) ran(seq int64) {
	if seq < 0 || seq >= s.target {
		s.unknown.Add(1)
	} else {
		bit := uint32(1) << (seq % 32)
		if old := s.seen[seq/32].Or(bit); old&bit != 0 {
			s.dups.Add(1)
		}
	}
	switch done := s.done.Add(1); done {
	case s.target / 10:
		s.tenth.Store(time.Now().UnixNano())
	case s.target - s.target/10:
		s.ninth.Store(time.Now().UnixNano())
	}
	if s.done.Load() == s.target {
		s.closeOnce.Do(func() { close(s.allDone) })
	}
}

// middleRate returns the tasks per second between the 10% and the 90%
// marks of the run, free of its start and end; 0 when not measured.
func (s *sink) middleRate() float64 {
	a, b := s.tenth.Load(), s.ninth.Load()
	if a == 0 || b <= a {
		return 0
	}
	return float64(s.target-2*(s.target/10)) / time.Duration(b-a).Seconds()
}

// missing returns how many of the target's tasks never ran.
func (s *sink) missing() int64 {
	var ran int64
	for i := range s.seen {
		ran += int64(bits.OnesCount32(s.seen[i].Load()))
	}
	return s.target - ran
}
