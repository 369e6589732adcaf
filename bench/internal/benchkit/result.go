package benchkit

import (
	"slices"
)

// Metrics are the figures of one run of a workload. Fields a workload does
// not measure stay zero and are left out of the JSON.
type Metrics struct {
	// Seconds is the timed part of the run.
	Seconds float64 `json:"seconds"`
	// TasksPerSec is N / Seconds (drain, enqueue, batch) or the completion
	// rate (latency).
	TasksPerSec float64 `json:"tasks_per_sec"`

	// MiddleTasksPerSec is a drain's rate between 10% and 90% of its tasks,
	// without the start and the end of the run.
	MiddleTasksPerSec float64 `json:"middle_tasks_per_sec,omitempty"`

	// LowRan counts the tasks of the Low backlog that ran during the run.
	LowRan int64 `json:"low_ran,omitempty"`

	// InsertSeconds is the untimed batch insert before a drain.
	InsertSeconds float64 `json:"insert_seconds,omitempty"`

	// Call latency of one CreateTask / CreateTasks (enqueue, batch).
	CallP50MS float64 `json:"call_p50_ms,omitempty"`
	CallP99MS float64 `json:"call_p99_ms,omitempty"`
	CallMaxMS float64 `json:"call_max_ms,omitempty"`

	// Latency workload: what was enqueued and completed, the rate the
	// producer achieved, and the pickup latency (enqueue → Run starts);
	// scheduled workload: the same, with the start latency (scheduled_at →
	// Run starts).
	Enqueued       int64   `json:"enqueued,omitempty"`
	Completed      int64   `json:"completed,omitempty"`
	EnqueueRate    float64 `json:"enqueue_rate,omitempty"`
	CompletionRate float64 `json:"completion_rate,omitempty"`
	P50MS          float64 `json:"p50_ms,omitempty"`
	P95MS          float64 `json:"p95_ms,omitempty"`
	P99MS          float64 `json:"p99_ms,omitempty"`
	MaxMS          float64 `json:"max_ms,omitempty"`
	MeanMS         float64 `json:"mean_ms,omitempty"`
}

// Result is one workload's line of output: its settings, the median of its
// runs, and every run.
type Result struct {
	Workload   string  `json:"workload"`
	N          int     `json:"n"`
	Workers    int     `json:"workers,omitempty"`
	Pools      int     `json:"pools,omitempty"`
	OwnPgxPool bool    `json:"own_pgxpool,omitempty"`
	Types      int     `json:"types,omitempty"`
	Other      int     `json:"other,omitempty"`
	Low        int     `json:"low,omitempty"`
	Goroutines int     `json:"goroutines,omitempty"`
	BatchSize  int     `json:"batch_size,omitempty"`
	Rate       float64 `json:"rate,omitempty"`
	DelayMinMS float64 `json:"delay_min_ms,omitempty"`
	DelayMaxMS float64 `json:"delay_max_ms,omitempty"`
	DurationS  float64 `json:"duration_s,omitempty"`
	WorkMS     float64 `json:"work_ms"`
	Retention  string  `json:"retention,omitempty"`
	Notify     *bool   `json:"notify,omitempty"`
	PollMS     float64 `json:"poll_ms,omitempty"`
	Metrics
	Runs  []Metrics `json:"runs"`
	Error string    `json:"error,omitempty"`
}

// metricFields lists every Metrics field, for Median.
var metricFields = []func(*Metrics) *float64{
	func(m *Metrics) *float64 { return &m.Seconds },
	func(m *Metrics) *float64 { return &m.TasksPerSec },
	func(m *Metrics) *float64 { return &m.MiddleTasksPerSec },
	func(m *Metrics) *float64 { return &m.InsertSeconds },
	func(m *Metrics) *float64 { return &m.CallP50MS },
	func(m *Metrics) *float64 { return &m.CallP99MS },
	func(m *Metrics) *float64 { return &m.CallMaxMS },
	func(m *Metrics) *float64 { return &m.EnqueueRate },
	func(m *Metrics) *float64 { return &m.CompletionRate },
	func(m *Metrics) *float64 { return &m.P50MS },
	func(m *Metrics) *float64 { return &m.P95MS },
	func(m *Metrics) *float64 { return &m.P99MS },
	func(m *Metrics) *float64 { return &m.MaxMS },
	func(m *Metrics) *float64 { return &m.MeanMS },
}

// Median returns, field by field, the median of runs (the mean of the two
// middle values for an even count). Counts (Enqueued, Completed) take the
// median too. It returns the zero Metrics for no runs.
func Median(runs []Metrics) Metrics {
	var out Metrics
	if len(runs) == 0 {
		return out
	}
	vals := make([]float64, len(runs))
	for _, field := range metricFields {
		for i := range runs {
			vals[i] = *field(&runs[i])
		}
		*field(&out) = median(vals)
	}
	counts := func(get func(*Metrics) int64) int64 {
		for i := range runs {
			vals[i] = float64(get(&runs[i]))
		}
		return int64(median(vals))
	}
	out.Enqueued = counts(func(m *Metrics) int64 { return m.Enqueued })
	out.Completed = counts(func(m *Metrics) int64 { return m.Completed })
	out.LowRan = counts(func(m *Metrics) int64 { return m.LowRan })
	return out
}

func median(vals []float64) float64 {
	s := slices.Clone(vals)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
