package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

	"github.com/backie-go/backie/backieotel"
)

// telemetry is the service's OpenTelemetry SDK: metrics for Prometheus to
// scrape on /metrics, and spans printed to traceOut when it is not nil
// (otherwise made, carried with the tasks, and dropped).
type telemetry struct {
	inst     *backieotel.Instrumentation
	tp       *sdktrace.TracerProvider
	mp       *sdkmetric.MeterProvider
	registry *prometheus.Registry
}

func newTelemetry(traceOut io.Writer) (*telemetry, error) {
	res := resource.NewSchemaless(semconv.ServiceName("simple_worker"))

	// Metrics: the Prometheus exporter is a reader of the MeterProvider;
	// its registry is the service's own, not Prometheus's global one.
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithResource(res))

	// Traces: every span is made, so each task carries its enqueue's trace
	// context; with -traces they are printed, one JSON object per span.
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if traceOut != nil {
		spans, err := stdouttrace.New(stdouttrace.WithWriter(traceOut))
		if err != nil {
			return nil, fmt.Errorf("stdout trace exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(spans, sdktrace.WithBatchTimeout(time.Second)))
	}
	tp := sdktrace.NewTracerProvider(opts...)

	inst, err := backieotel.New(backieotel.Config{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		return nil, err
	}
	return &telemetry{inst: inst, tp: tp, mp: mp, registry: registry}, nil
}

// metricsHandler serves the metrics in Prometheus's text format.
func (t *telemetry) metricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// shutdown flushes the spans not yet printed and stops the providers.
func (t *telemetry) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(t.tp.Shutdown(ctx), t.mp.Shutdown(ctx))
}
