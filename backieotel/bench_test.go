package backieotel_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	mnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tnoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backieotel"
)

// discardSpans is a span exporter that drops what it gets.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

// benchSDK says which parts of the SDK a benchmark runs: the others are
// OpenTelemetry's no-op providers.
type benchSDK struct {
	name    string
	traces  bool
	sampler sdktrace.Sampler
	metrics bool
}

// benchSDKs are the set-ups the benchmarks compare. "sdk" is what a
// service runs: every span sampled and batched to an exporter (here one
// that drops them), the metrics aggregated for a reader.
var benchSDKs = []benchSDK{
	{"sdk", true, sdktrace.AlwaysSample(), true},
	{"sdk-1%-sampled", true, sdktrace.TraceIDRatioBased(0.01), true},
	{"traces-only", true, sdktrace.AlwaysSample(), false},
	{"metrics-only", false, nil, true},
	{"noop-providers", false, nil, false},
}

func (s benchSDK) instrumentation(b *testing.B) *backieotel.Instrumentation {
	b.Helper()
	cfg := backieotel.Config{TracerProvider: tnoop.NewTracerProvider(), MeterProvider: mnoop.NewMeterProvider()}
	if s.traces {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(s.sampler), sdktrace.WithBatcher(discardSpans{}))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		cfg.TracerProvider = tp
	}
	if s.metrics {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
		cfg.MeterProvider = mp
	}
	inst, err := backieotel.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return inst
}

// BenchmarkRunMiddleware is the CPU cost of the run middleware around an
// attempt that does nothing, without the database: what it adds to each
// task a pool runs. The tasks carry the trace context of their enqueue.
func BenchmarkRunMiddleware(b *testing.B) {
	for _, s := range benchSDKs {
		b.Run(s.name, func(b *testing.B) {
			inst := s.instrumentation(b)
			ctx := context.Background()
			recs := make([]*backie.TaskRecord, 1000)
			for i := range recs {
				recs[i] = &backie.TaskRecord{ID: backie.TaskID{byte(i)}, Name: "send_email", Type: backie.TaskTypeDefault,
					Priority: backie.PriorityDefault, MaxRetries: 20, Attempt: 1, ScheduledAt: time.Now()}
			}
			for i := range recs { // the enqueues, as CreateTask would: one trace each
				if err := inst.EnqueueMiddleware()(ctx, recs[i:i+1], func(context.Context) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
			run := inst.RunMiddleware()
			next := func(context.Context) error { return nil }
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := run(ctx, nil, recs[i%len(recs)], next); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkEnqueueMiddleware is the CPU cost of the enqueue middleware
// around a CreateTask (one task) and a CreateTasks of 1,000, without the
// database.
func BenchmarkEnqueueMiddleware(b *testing.B) {
	for _, n := range []int{1, 1000} {
		for _, s := range benchSDKs[:1] {
			b.Run(fmt.Sprintf("%s-batch-%d", s.name, n), func(b *testing.B) {
				inst := s.instrumentation(b)
				mw := inst.EnqueueMiddleware()
				ctx := context.Background()
				next := func(context.Context) error { return nil }
				recs := make([]*backie.TaskRecord, n)
				b.ReportAllocs()
				for b.Loop() {
					for i := range recs {
						recs[i] = &backie.TaskRecord{ID: backie.TaskID{1}, Name: "send_email", Type: backie.TaskTypeDefault}
					}
					if err := mw(ctx, recs, next); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
