package main

import (
	"context"
	"errors"
	"fmt"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backieotel"
	"github.com/backie-go/backie/bench/internal/benchkit"
)

// OpenTelemetry modes of -otel.
const (
	otelOff  = "off"  // no middleware
	otelOn   = "on"   // backieotel's middleware on the queues and pools
	otelBoth = "both" // each run without, then with, interleaved
)

// withOTel returns cfg with backieotel's middleware, on the SDK a service
// would run: spans sampled at the rate sample (1: all of them; the spans
// of attempts are roots, so each attempt is sampled on its own) and handed
// to a batch processor whose exporter discards them, the metrics
// aggregated for a reader (a manual one: a collection every few seconds
// costs nothing next to a task). stop shuts the providers down.
func withOTel(cfg benchkit.Config, sample float64) (_ benchkit.Config, stop func(context.Context) error, err error) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.TraceIDRatioBased(sample)),
		sdktrace.WithBatcher(discardSpans{}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	stop = func(ctx context.Context) error { return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx)) }
	inst, err := backieotel.New(backieotel.Config{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		return cfg, nil, errors.Join(fmt.Errorf("backieotel: %w", err), stop(context.Background()))
	}
	cfg.EnqueueMiddleware = []backie.EnqueueMiddleware{inst.EnqueueMiddleware()}
	cfg.RunMiddleware = []backie.RunMiddleware{inst.RunMiddleware()}
	return cfg, stop, nil
}

// discardSpans is a span exporter that drops what it gets.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }
