package backieotel_test

import (
	"context"
	"fmt"
	"log"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backieotel"
	"github.com/backie-go/backie/internal/dbtest"
)

// Welcome is a task.
type Welcome struct {
	backie.TaskDefaults
	To string `json:"to"`
}

func (t *Welcome) Run(ctx context.Context, q backie.Queue) error { return nil }

// The enqueue middleware goes on the queue, the run middleware on the pool
// (here RunNext, which runs one task as a pool's worker would). The
// attempt's span is the root of its own trace, linked to the enqueue's.
func Example() {
	db, cleanup := dbtest.ExamplePool()
	defer cleanup()
	ctx := context.Background()

	// The application's SDK: here in memory; in a service, exporters.
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(ctx)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)

	inst, err := backieotel.New(backieotel.Config{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		log.Fatal(err)
	}
	reg := backie.NewRegistry()
	if err := backie.Register[*Welcome](reg, "welcome"); err != nil {
		log.Fatal(err)
	}
	queue := backie.NewPgQueue(db, reg, backie.QueueConfig{
		Middleware: []backie.EnqueueMiddleware{inst.EnqueueMiddleware()},
	})
	// In a service: backie.NewWorkerPool(queue, backie.Config{
	//	Middleware: []backie.RunMiddleware{inst.RunMiddleware()}})
	run := backie.AttemptOptions{Middleware: []backie.RunMiddleware{inst.RunMiddleware()}}

	reqCtx, request := tp.Tracer("shop").Start(ctx, "POST /signup")
	if _, err := queue.CreateTask(reqCtx, &Welcome{To: "ada@example.com"}); err != nil {
		log.Fatal(err)
	}
	request.End()
	if _, _, err := queue.RunNext(ctx, backie.RunNextOptions{AttemptOptions: run}); err != nil {
		log.Fatal(err)
	}

	for _, s := range spans.Ended() {
		fmt.Printf("%s (%s): root %v, links %d\n", s.Name(), s.SpanKind(), !s.Parent().IsValid(), len(s.Links()))
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
			fmt.Printf("%s: %d\n", m.Name, sum.DataPoints[0].Value)
		}
	}
	// Output:
	// backie.enqueue welcome (producer): root false, links 0
	// POST /signup (internal): root true, links 0
	// backie.run welcome (consumer): root true, links 1
	// backie.tasks.enqueued: 1
	// backie.tasks.started: 1
	// backie.tasks.finished: 1
}
