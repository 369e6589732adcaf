package backieotel_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backieotel"
)

// waitFor bounds every wait of the tests.
const waitFor = 20 * time.Second

// otTask is the task of the tests. Its payload says what it does.
type otTask struct {
	backie.TaskDefaults
	env *otEnv // set by the constructor the test registers
	// Mode: "" succeeds; "fail" fails while Attempt <= Fails; "panic"
	// panics; "permanent" fails for good; "snooze" snoozes its first
	// attempt; "block" waits for its context to end and returns its cause;
	// "block-nil" waits and returns nil; "follow-up" enqueues a task.
	Mode      string `json:"mode"`
	Fails     int    `json:"fails,omitempty"`
	Retries   int    `json:"retries"`
	TimeoutMS int64  `json:"timeout_ms,omitempty"`
	Key       string `json:"key,omitempty"` // makes the task unique
	Type      string `json:"type,omitempty"`
}

func (t *otTask) Run(ctx context.Context, q backie.Queue) error {
	rec, _ := backie.RecordFromContext(ctx)
	if t.env != nil && t.env.running != nil {
		t.env.running <- rec.ID
	}
	switch t.Mode {
	case "fail":
		if rec.Attempt <= t.Fails {
			return fmt.Errorf("fails on attempt %d", rec.Attempt)
		}
	case "panic":
		otPanic()
	case "permanent":
		return backie.Permanent(errors.New("no point in retrying"))
	case "snooze":
		if rec.Attempt <= 1 {
			return backie.Snooze(time.Millisecond)
		}
	case "block":
		<-ctx.Done()
		return context.Cause(ctx)
	case "block-nil":
		<-ctx.Done()
		return nil
	case "follow-up":
		_, err := q.CreateTask(ctx, &otTask{})
		return err
	}
	return nil
}

// otPanic panics: the stored stack must name it.
func otPanic() { panic("boom in otPanic") }

func (t *otTask) TaskType() backie.TaskType {
	if t.Type == "" {
		return backie.TaskTypeDefault
	}
	return backie.TaskType(t.Type)
}

func (t *otTask) MaxRetries() int                { return t.Retries }
func (t *otTask) Backoff(int) time.Duration      { return time.Millisecond }
func (t *otTask) Uniq() (backie.TaskHash, error) { return backie.TaskHash(t.Key), nil }

func (t *otTask) Timeout() time.Duration {
	if t.TimeoutMS > 0 {
		return time.Duration(t.TimeoutMS) * time.Millisecond
	}
	return time.Minute
}

// otEnv is one test's instrumentation, in-memory SDK providers and queue.
type otEnv struct {
	spans   *tracetest.SpanRecorder
	tp      *sdktrace.TracerProvider
	reader  *sdkmetric.ManualReader
	inst    *backieotel.Instrumentation
	db      *pgxpool.Pool
	reg     *backie.Registry
	q       *backie.PgQueue
	running chan backie.TaskID // when set, each attempt sends its task id
}

func newEnv(t *testing.T, db *pgxpool.Pool, cfg backieotel.Config) *otEnv {
	t.Helper()
	env := &otEnv{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader(), db: db}
	env.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(env.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(env.reader))
	t.Cleanup(func() {
		_ = env.tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	cfg.TracerProvider, cfg.MeterProvider = env.tp, mp
	inst, err := backieotel.New(cfg)
	require.NoError(t, err)
	env.inst = inst
	env.reg = backie.NewRegistry()
	require.NoError(t, backie.RegisterFunc(env.reg, "ot_task", func() *otTask { return &otTask{env: env} }))
	env.q = backie.NewPgQueue(db, env.reg, backie.QueueConfig{
		Middleware: []backie.EnqueueMiddleware{inst.EnqueueMiddleware()}})
	return env
}

// startPool runs a pool with the run middleware until the test ends.
func (env *otEnv) startPool(t *testing.T, workers int) *backie.WorkerPool {
	t.Helper()
	pool, err := backie.NewWorkerPool(env.q, backie.Config{Workers: workers, Retention: backie.KeepAll,
		PollInterval: 50 * time.Millisecond, Logger: backie.DiscardLogger(),
		Middleware: []backie.RunMiddleware{env.inst.RunMiddleware()}})
	require.NoError(t, err)
	require.NoError(t, pool.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		require.NoError(t, pool.Shutdown(ctx))
	})
	return pool
}

// ended returns the ended spans named name, in the order they ended.
func (env *otEnv) ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range env.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// waitSpans waits until n spans named name have ended, and returns them.
func (env *otEnv) waitSpans(t *testing.T, name string, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	require.Eventually(t, func() bool { return len(env.ended(name)) >= n }, waitFor, 5*time.Millisecond,
		"%d spans %q did not end", n, name)
	return env.ended(name)
}

// collect returns the metrics of the instrumentation.
func (env *otEnv) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, env.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// attrs builds an attribute set from key, value pairs.
func attrs(kv ...string) attribute.Set {
	var out []attribute.KeyValue
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, attribute.String(kv[i], kv[i+1]))
	}
	return attribute.NewSet(out...)
}

// distinct is attrs(kv...).Equivalent(), the key of gauge's map.
func distinct(kv ...string) attribute.Distinct {
	s := attrs(kv...)
	return s.Equivalent()
}

// sum returns the value of counter name for exactly the attributes set.
func sum(t *testing.T, ms map[string]metricdata.Metrics, name string, set attribute.Set) int64 {
	t.Helper()
	m, ok := ms[name]
	require.True(t, ok, "no metric %s", name)
	data, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is a %T", name, m.Data)
	for _, dp := range data.DataPoints {
		if dp.Attributes.Equals(&set) {
			return dp.Value
		}
	}
	return 0
}

// histCount returns the count of histogram name for exactly set.
func histCount(t *testing.T, ms map[string]metricdata.Metrics, name string, set attribute.Set) uint64 {
	t.Helper()
	m, ok := ms[name]
	require.True(t, ok, "no metric %s", name)
	data, ok := m.Data.(metricdata.Histogram[float64])
	require.True(t, ok, "%s is a %T", name, m.Data)
	for _, dp := range data.DataPoints {
		if dp.Attributes.Equals(&set) {
			return dp.Count
		}
	}
	return 0
}

// gauge returns the data points of gauge name by attribute set.
func gauge[N int64 | float64](t *testing.T, ms map[string]metricdata.Metrics, name string) map[attribute.Distinct]N {
	t.Helper()
	out := map[attribute.Distinct]N{}
	m, ok := ms[name]
	if !ok {
		return out
	}
	data, ok := m.Data.(metricdata.Gauge[N])
	require.True(t, ok, "%s is a %T", name, m.Data)
	for _, dp := range data.DataPoints {
		out[dp.Attributes.Equivalent()] = dp.Value
	}
	return out
}

// attr returns the value of the span's attribute key.
func attr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// byAttempt returns the span whose backie.task.attempt is n.
func byAttempt(t *testing.T, spans []sdktrace.ReadOnlySpan, id backie.TaskID, n int) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range spans {
		if attr(s, "backie.task.id").AsString() == id.String() && attr(s, "backie.task.attempt").AsInt64() == int64(n) {
			return s
		}
	}
	t.Fatalf("no span of attempt %d of task %s", n, id)
	return nil
}
