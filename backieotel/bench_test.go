package backieotel_test

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backieotel"
)

// discardSpans is a span exporter that drops what it gets.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

// benchInstrumentation returns an Instrumentation on the SDK a service
// runs: every span sampled and batched to an exporter that drops it, the
// metrics aggregated for a reader.
func benchInstrumentation(b *testing.B) *backieotel.Instrumentation {
	b.Helper()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(discardSpans{}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	inst, err := backieotel.New(backieotel.Config{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		b.Fatal(err)
	}
	return inst
}

// BenchmarkRunMiddleware is the CPU cost of the run middleware around an
// attempt that does nothing, without the database: what it adds to each
// task a pool runs.
func BenchmarkRunMiddleware(b *testing.B) {
	inst := benchInstrumentation(b)
	ctx := context.Background()
	var recs []*backie.TaskRecord
	mw := inst.EnqueueMiddleware()
	for range 1000 {
		rec := &backie.TaskRecord{ID: backie.TaskID{1}, Name: "send_email", Type: backie.TaskTypeDefault,
			Priority: backie.PriorityDefault, MaxRetries: 20, Attempt: 1, ScheduledAt: time.Now()}
		recs = append(recs, rec)
	}
	if err := mw(ctx, recs, func(context.Context) error { return nil }); err != nil {
		b.Fatal(err)
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
}

// BenchmarkEnqueueMiddleware is the CPU cost of the enqueue middleware
// around a CreateTask, without the database.
func BenchmarkEnqueueMiddleware(b *testing.B) {
	inst := benchInstrumentation(b)
	ctx := context.Background()
	mw := inst.EnqueueMiddleware()
	next := func(context.Context) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		recs := []*backie.TaskRecord{{ID: backie.TaskID{1}, Name: "send_email", Type: backie.TaskTypeDefault}}
		if err := mw(ctx, recs, next); err != nil {
			b.Fatal(err)
		}
	}
}
