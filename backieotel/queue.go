package backieotel

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/backie-go/backie"
)

// StatsReader is what ObserveQueue reads: *backie.PgQueue, or a fake in
// a test.
type StatsReader interface {
	Stats(ctx context.Context) (*backie.Stats, error)
}

var _ StatsReader = (*backie.PgQueue)(nil)

// ObserveQueue reports the gauges of q's table at each collection of the
// MeterProvider's readers:
//
//   - backie.queue.depth: the tasks of each type in each state
//     (backie.task.type, backie.task.state), every state of every type
//     that has tasks or is paused, zeros included;
//   - backie.queue.lag: how long the oldest Ready task of each type has
//     been due, in seconds (0 when none is Ready).
//
// Both come from q.Stats, whose counts are the last count of the pools'
// leader (every 5 seconds or more), not a count of the table: a
// collection reads a few small rows and one index probe per type and
// priority, whatever the table's size. When no pool runs, Stats counts the
// table itself, at most once a minute. A read serves the collections of
// the next Config.QueueStatsMaxAge, and is bounded by
// Config.QueueStatsTimeout; a read that fails reports nothing, returns its
// error to the SDK (which hands it to otel.Handle), and is not tried again
// before QueueStatsMaxAge.
//
// Every process that observes the same table reports the same values:
// aggregate them across processes with max, not sum. Observe one queue per
// table; two queues on one MeterProvider would report the same series.
// unregister stops the reports.
func (in *Instrumentation) ObserveQueue(q StatsReader) (unregister func() error, err error) {
	if q == nil {
		return nil, fmt.Errorf("backieotel: observe queue: %w: nil queue", backie.ErrInvalidConfig)
	}
	o := &queueObserver{in: in, q: q, now: time.Now}
	reg, err := in.meter.RegisterCallback(o.observe, in.depth, in.lag)
	if err != nil {
		return nil, fmt.Errorf("backieotel: observe queue: %w", err)
	}
	return reg.Unregister, nil
}

// queueObserver reads one queue's Stats for the gauges, at most once per
// QueueStatsMaxAge.
type queueObserver struct {
	in  *Instrumentation
	q   StatsReader
	now func() time.Time

	mu     sync.Mutex // one read at a time; the collections meanwhile wait for it
	readAt time.Time
	stats  *backie.Stats
	err    error
}

// read returns the last Stats if it is younger than QueueStatsMaxAge, and
// reads them otherwise.
func (o *queueObserver) read(ctx context.Context) (*backie.Stats, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.readAt.IsZero() && o.now().Sub(o.readAt) < o.in.cfg.QueueStatsMaxAge {
		return o.stats, o.err
	}
	ctx, cancel := context.WithTimeout(ctx, o.in.cfg.QueueStatsTimeout)
	defer cancel()
	o.stats, o.err = o.q.Stats(ctx)
	o.readAt = o.now()
	return o.stats, o.err
}

func (o *queueObserver) observe(ctx context.Context, obs metric.Observer) error {
	st, err := o.read(ctx)
	if err != nil {
		return fmt.Errorf("backieotel: queue gauges: %w", err)
	}
	for _, ts := range st.Types {
		typ := keyTaskType.String(string(ts.Type))
		for _, state := range backie.AllStates {
			obs.ObserveInt64(o.in.depth, ts.Of(state),
				metric.WithAttributeSet(attribute.NewSet(typ, keyTaskState.String(string(state)))))
		}
		obs.ObserveFloat64(o.in.lag, ts.Lag.Seconds(), metric.WithAttributeSet(attribute.NewSet(typ)))
	}
	return nil
}
