package backieotel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/backie-go/backie"
)

// EnqueueMiddleware returns the middleware to put in
// backie.QueueConfig.Middleware. Every enqueue (CreateTask, CreateTasks
// and their …Tx twins) gets a span "backie.enqueue <task name>" of kind
// producer ("backie.enqueue" for a batch of several names), a child of the
// span in the caller's context; the span's trace context is written into
// the Metadata of each task stored (with the W3C propagator, the keys
// "traceparent" and "tracestate"), for its attempts to find. It counts the
// tasks in backie.tasks.enqueued, by name, type and result: created,
// duplicate (a unique task whose name and hash were taken: the call
// returned the waiting task, whose Metadata is its own) or error.
//
// Put it first in QueueConfig.Middleware, so that its span covers the
// middleware after it. It ends its span when the enqueue returns; a
// cancelled context fails the enqueue, which it records as an error.
func (in *Instrumentation) EnqueueMiddleware() backie.EnqueueMiddleware {
	return in.enqueue
}

func (in *Instrumentation) enqueue(ctx context.Context, recs []*backie.TaskRecord, next func(context.Context) error) error {
	if len(recs) == 0 {
		return next(ctx)
	}
	first := recs[0]
	same := true
	for _, rec := range recs[1:] {
		if rec.Name != first.Name || rec.Type != first.Type {
			same = false
			break
		}
	}
	spanName := "backie.enqueue"
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs, systemBackie, keyMsgOperation.String("send"), keyEnqueueCount.Int(len(recs)))
	if same {
		spanName = in.label(first.Name, first.Type, "").enqueueSpan
		attrs = append(attrs, keyTaskName.String(first.Name), keyTaskType.String(string(first.Type)))
	}
	if len(recs) == 1 {
		attrs = append(attrs, keyTaskID.String(first.ID.String()), keyTaskPriority.Int(first.Priority))
	}
	ctx, span := in.tracer.Start(ctx, spanName, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	defer span.End()

	ids := make([]backie.TaskID, len(recs))
	for i, rec := range recs {
		ids[i] = rec.ID
	}
	if len(recs) == 1 {
		if first.Metadata == nil {
			first.Metadata = make(map[string]string, 2)
		}
		in.prop.Inject(ctx, propagation.MapCarrier(first.Metadata))
	} else {
		// The trace context is the same for every task of the call: it is
		// written once, then copied into each task's own Metadata (a later
		// middleware may change one task's without touching the others').
		carrier := make(propagation.MapCarrier, 2)
		in.prop.Inject(ctx, carrier)
		for _, rec := range recs {
			if len(carrier) == 0 {
				break
			}
			if rec.Metadata == nil {
				rec.Metadata = make(map[string]string, len(carrier))
			}
			for k, v := range carrier {
				rec.Metadata[k] = v
			}
		}
	}

	err := next(ctx)
	var c counts
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		for _, rec := range recs {
			c.add(ctx, in, in.label(rec.Name, rec.Type, resultError))
		}
		c.flush(ctx, in)
		return err
	}
	duplicates := 0
	for i, rec := range recs {
		result := resultCreated
		if rec.ID != ids[i] { // the record is now the waiting unique task's
			result = resultDuplicate
			duplicates++
		}
		c.add(ctx, in, in.label(rec.Name, rec.Type, result))
	}
	c.flush(ctx, in)
	if len(recs) == 1 {
		result := resultCreated
		if duplicates == 1 {
			result = resultDuplicate
			span.SetAttributes(keyTaskID.String(first.ID.String())) // the waiting task's id
		}
		span.SetAttributes(keyEnqueueResult.String(result))
	} else if duplicates > 0 {
		span.SetAttributes(keyEnqueueDupes.Int(duplicates))
	}
	return nil
}

// counts adds up the tasks of a call with the same labels, so that a batch
// of one task name makes one measurement.
type counts struct {
	l *labelSet
	n int64
}

func (c *counts) add(ctx context.Context, in *Instrumentation, l *labelSet) {
	if l != c.l {
		c.flush(ctx, in)
		c.l = l
	}
	c.n++
}

func (c *counts) flush(ctx context.Context, in *Instrumentation) {
	if c.n > 0 {
		in.enqueued.Add(ctx, c.n, c.l.opt)
	}
	c.n = 0
}
