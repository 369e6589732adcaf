package backie

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// rescueBatchMax bounds the tasks taken back by one look; a full batch
// makes the rescuer look again at once.
const rescueBatchMax = 1000

// rescuer takes back tasks left Running by a worker that was lost (process
// killed, machine lost) or whose Run ignores its context: at start and
// then every interval (with jitter, so that many pools spread their
// queries), it finds the tasks of its pool's names and types Running for
// longer than their timeout plus margin. Each fails its attempt (kind
// abandoned) and follows the retry rules; the write goes through the
// completer, guarded like any finishing write, so a task that finishes
// meanwhile, or that another pool rescues first, is not touched twice.
type rescuer struct {
	db        *pgxpool.Pool
	log       *slog.Logger
	reg       *Registry
	names     []string
	types     []string
	interval  time.Duration
	margin    time.Duration
	retention RetentionMode
	results   chan<- rowChange
}

func (r *rescuer) run(ctx context.Context) {
	timer := newStoppedTimer()
	var failures int
	for {
		wait := r.interval
		n, err := r.rescue(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures++
			wait = min(wait, errorBackoff(failures))
			r.log.Error("backie: looking for abandoned tasks failed", "error", err, "retry_in", wait)
		default:
			failures = 0
			if n > 0 {
				r.log.Warn("backie: took back abandoned tasks", "count", n)
			}
			if n == rescueBatchMax {
				wait = 0
			}
		}
		jitter := time.Duration(rand.Int64N(int64(wait)/10 + 1))
		if !sleep(ctx, timer, wait+jitter) {
			return
		}
	}
}

func (r *rescuer) rescue(ctx context.Context) (int, error) {
	rows, err := r.db.Query(ctx, sqlRescue, r.names, r.types, r.margin.Milliseconds(), rescueBatchMax)
	if err != nil {
		return 0, opError("rescue tasks", err)
	}
	recs, err := scanRecords(rows, 0)
	if err != nil {
		return 0, opError("rescue tasks", err)
	}
	now := time.Now()
	for _, rec := range recs {
		task, _ := r.reg.decode(rec.Name, rec.Payload)
		a := attempt{
			rec: rec, task: task, abandoned: true,
			err: fmt.Errorf("%w: running since %s, longer than its timeout %v plus %v: its worker was lost",
				ErrTaskTimeout, rec.RunningAt.UTC().Format(time.RFC3339Nano), rec.Timeout, r.margin),
		}
		d := decide(a, r.retention, backoffOf(task), now)
		log := r.log.With("task_id", rec.ID, "task_name", rec.Name, "retries", rec.Retries, "attempt", rec.Attempt)
		if d.verdict == verdictRetry {
			log.Warn("backie: took back an abandoned task, will retry", "error", d.info.Message, "backoff", d.delay)
		} else {
			log.Error("backie: took back an abandoned task, failed for good", "error", d.info.Message)
		}
		select {
		case r.results <- d.change:
		case <-ctx.Done():
			return len(recs), nil
		}
	}
	return len(recs), nil
}
