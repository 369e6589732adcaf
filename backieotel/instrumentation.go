package backieotel

import (
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/backie-go/backie"
)

// ScopeName is the instrumentation scope of the spans and metrics: the
// name of the tracer and of the meter.
const ScopeName = "github.com/backie-go/backie/backieotel"

// Defaults of Config.
const (
	// QueueStatsMaxAgeDefault is how long the queue gauges reuse one read
	// of PgQueue.Stats.
	QueueStatsMaxAgeDefault = 5 * time.Second
	// QueueStatsTimeoutDefault bounds one read of PgQueue.Stats made for a
	// collection of the queue gauges.
	QueueStatsTimeoutDefault = 5 * time.Second
)

// Config configures an Instrumentation. Its zero value is valid: the
// global providers, the W3C trace context, attempts linked to their
// enqueue.
type Config struct {
	// TracerProvider makes the spans. Defaults to otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider makes the metrics. Defaults to otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Propagator writes the trace context of an enqueue into the Metadata
	// of each task it stores, and reads it back in the task's attempts.
	// Defaults to propagation.TraceContext{} (the W3C traceparent and
	// tracestate), not otel.GetTextMapPropagator(), which carries nothing
	// until the application sets it: pass that one to carry baggage too.
	Propagator propagation.TextMapPropagator
	// ChildOfEnqueue makes each attempt's span a child of the enqueue's
	// span, in the enqueue's trace, instead of the root of a trace of its
	// own with a link to the enqueue's span. Defaults to false, the way of
	// OpenTelemetry's messaging conventions: a task may run hours after the
	// request that enqueued it, and run many times, and one trace per
	// attempt keeps the request's trace short and each attempt sampled on
	// its own.
	ChildOfEnqueue bool
	// QueueStatsMaxAge is how long the gauges of ObserveQueue reuse one
	// read of Stats, so that several collections close together (two
	// exporters, several scrapers) read it once. Defaults to
	// QueueStatsMaxAgeDefault (5s).
	QueueStatsMaxAge time.Duration
	// QueueStatsTimeout bounds one read of Stats for a collection (a
	// Prometheus scrape gives the collection no deadline of its own).
	// Defaults to QueueStatsTimeoutDefault (5s).
	QueueStatsTimeout time.Duration
}

// withDefaults validates c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if c.QueueStatsMaxAge < 0 || c.QueueStatsTimeout < 0 {
		return c, fmt.Errorf("%w: QueueStatsMaxAge and QueueStatsTimeout must not be negative", backie.ErrInvalidConfig)
	}
	if c.TracerProvider == nil {
		c.TracerProvider = otel.GetTracerProvider()
	}
	if c.MeterProvider == nil {
		c.MeterProvider = otel.GetMeterProvider()
	}
	if c.Propagator == nil {
		c.Propagator = propagation.TraceContext{}
	}
	if c.QueueStatsMaxAge == 0 {
		c.QueueStatsMaxAge = QueueStatsMaxAgeDefault
	}
	if c.QueueStatsTimeout == 0 {
		c.QueueStatsTimeout = QueueStatsTimeoutDefault
	}
	return c, nil
}

// Instrumentation makes the spans and metrics of enqueues and attempts,
// through the middleware it returns, and the gauges of a queue
// (ObserveQueue). One Instrumentation serves any number of queues and
// pools; it is safe for concurrent use.
type Instrumentation struct {
	cfg    Config
	tracer trace.Tracer
	meter  metric.Meter
	prop   propagation.TextMapPropagator

	enqueued metric.Int64Counter
	started  metric.Int64Counter
	finished metric.Int64Counter
	duration metric.Float64Histogram
	pickup   metric.Float64Histogram
	depth    metric.Int64ObservableGauge
	lag      metric.Float64ObservableGauge

	// labels caches, per task name, type and outcome, the attribute set of
	// the metrics and the span names: measuring a task allocates none.
	labels sync.Map // labelKey → *labelSet
}

// durationBuckets are the bounds, in seconds, of the histograms of
// attempt durations and pickup delays: from a millisecond to an hour.
var durationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
	300, 900, 3600}

// New returns an Instrumentation configured by cfg. It fails with an error
// wrapping backie.ErrInvalidConfig for a Config that cannot work, or with
// the MeterProvider's error when it refuses an instrument.
func New(cfg Config) (*Instrumentation, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("backieotel: %w", err)
	}
	in := &Instrumentation{
		cfg:    cfg,
		tracer: cfg.TracerProvider.Tracer(ScopeName),
		meter:  cfg.MeterProvider.Meter(ScopeName),
		prop:   cfg.Propagator,
	}
	m := in.meter
	var errs [7]error
	in.enqueued, errs[0] = m.Int64Counter("backie.tasks.enqueued", metric.WithUnit("{task}"),
		metric.WithDescription("Tasks enqueued, by name, type and result (created, duplicate: a unique task already waiting, error)."))
	in.started, errs[1] = m.Int64Counter("backie.tasks.started", metric.WithUnit("{task}"),
		metric.WithDescription("Attempts started, by task name and type."))
	in.finished, errs[2] = m.Int64Counter("backie.tasks.finished", metric.WithUnit("{task}"),
		metric.WithDescription("Attempts finished, by task name, type and outcome (done, retry, failed, snoozed, cancelled, released)."))
	in.duration, errs[3] = m.Float64Histogram("backie.task.duration", metric.WithUnit("s"),
		metric.WithDescription("How long attempts ran, by task name, type and outcome."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	in.pickup, errs[4] = m.Float64Histogram("backie.task.pickup_delay", metric.WithUnit("s"),
		metric.WithDescription("From when a task was due to when a pool claimed it, by task name and type."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	in.depth, errs[5] = m.Int64ObservableGauge("backie.queue.depth", metric.WithUnit("{task}"),
		metric.WithDescription("Tasks in the table by type and state, as last counted by the pools' leader."))
	in.lag, errs[6] = m.Float64ObservableGauge("backie.queue.lag", metric.WithUnit("s"),
		metric.WithDescription("How long the oldest ready task of each type has been due."))
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("backieotel: new instrument: %w", err)
		}
	}
	return in, nil
}

// Attribute keys of the spans and metrics.
const (
	keyTaskID         = attribute.Key("backie.task.id")
	keyTaskName       = attribute.Key("backie.task.name")
	keyTaskType       = attribute.Key("backie.task.type")
	keyTaskAttempt    = attribute.Key("backie.task.attempt")
	keyTaskRetries    = attribute.Key("backie.task.retries")
	keyTaskMaxRetries = attribute.Key("backie.task.max_retries")
	keyTaskPriority   = attribute.Key("backie.task.priority")
	keyTaskOutcome    = attribute.Key("backie.task.outcome")
	keyTaskState      = attribute.Key("backie.task.state")
	keyEnqueueCount   = attribute.Key("backie.enqueue.count")
	keyEnqueueResult  = attribute.Key("backie.enqueue.result")
	keyEnqueueDupes   = attribute.Key("backie.enqueue.duplicates")
	keyErrorType      = attribute.Key("error.type")
	keyMsgSystem      = attribute.Key("messaging.system")
	keyMsgOperation   = attribute.Key("messaging.operation.type")
)

var systemBackie = keyMsgSystem.String("backie")

// Results of an enqueue, for backie.tasks.enqueued.
const (
	resultCreated   = "created"
	resultDuplicate = "duplicate" // a unique task whose name and hash were taken
	resultError     = "error"
)

// labelKey is what a labelSet is cached by. outcome is an attempt's
// outcome, an enqueue's result, or empty for the set of name and type.
type labelKey struct {
	name    string
	typ     backie.TaskType
	outcome string
}

// labelSet holds the measurement option of one labelKey and the span
// names of its task name.
type labelSet struct {
	opt         metric.MeasurementOption
	runSpan     string
	enqueueSpan string
}

func (in *Instrumentation) label(name string, typ backie.TaskType, outcome string) *labelSet {
	k := labelKey{name, typ, outcome}
	if l, ok := in.labels.Load(k); ok {
		return l.(*labelSet)
	}
	attrs := []attribute.KeyValue{keyTaskName.String(name), keyTaskType.String(string(typ))}
	switch outcome {
	case "":
	case resultCreated, resultDuplicate, resultError:
		attrs = append(attrs, keyEnqueueResult.String(outcome))
	default:
		attrs = append(attrs, keyTaskOutcome.String(outcome))
	}
	l := &labelSet{
		opt:         metric.WithAttributeSet(attribute.NewSet(attrs...)),
		runSpan:     "backie.run " + name,
		enqueueSpan: "backie.enqueue " + name,
	}
	actual, _ := in.labels.LoadOrStore(k, l)
	return actual.(*labelSet)
}
