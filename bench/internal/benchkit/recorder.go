package benchkit

import (
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Recorder is a latency histogram safe for concurrent use. It is an HDR
// histogram of microseconds from 1µs to one hour at 3 significant digits,
// so its memory is fixed (about 200 KB) however many values it records.
type Recorder struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

const (
	recorderMinUS = 1
	recorderMaxUS = int64(time.Hour / time.Microsecond)
)

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{h: hdrhistogram.New(recorderMinUS, recorderMaxUS, 3)}
}

// Record adds one latency. Values below 1µs (or negative, from a clock
// step) count as 1µs, values above one hour as one hour.
func (r *Recorder) Record(d time.Duration) {
	us := min(max(d.Microseconds(), recorderMinUS), recorderMaxUS)
	r.mu.Lock()
	_ = r.h.RecordValue(us) // cannot fail: us is within range
	r.mu.Unlock()
}

// Latencies summarizes a Recorder, in milliseconds.
type Latencies struct {
	Count                      int64
	P50, P95, P99, Max, MeanMS float64
}

// Snapshot returns the recorded percentiles.
func (r *Recorder) Snapshot() Latencies {
	r.mu.Lock()
	defer r.mu.Unlock()
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latencies{
		Count:  r.h.TotalCount(),
		P50:    ms(r.h.ValueAtQuantile(50)),
		P95:    ms(r.h.ValueAtQuantile(95)),
		P99:    ms(r.h.ValueAtQuantile(99)),
		Max:    ms(r.h.Max()),
		MeanMS: r.h.Mean() / 1000,
	}
}
