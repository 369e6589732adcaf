package backie

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Settings of the leader's maintenance.
const (
	// unservedAfter is how long a task must have been due, with no live
	// pool serving its name and type, before the leader reports it.
	unservedAfter = time.Minute
	// unservedEvery is how often at most the leader reports them.
	unservedEvery = time.Minute
	// countEveryMin is how often at most the leader counts the tasks for
	// Stats (or every 3 heartbeats, if that is more often); it counts less
	// often when counting takes longer (countCost).
	countEveryMin = 5 * time.Second
	// countCost: the leader waits countCost times as long as its last count
	// took before counting again, so that counting takes at most about 5%
	// of the database's time, whatever the table's size.
	countCost = 20
	// cleanupEvery is how often at most the leader deletes finished tasks
	// past their retention (or every 10 heartbeats, if that is more
	// often); cleanupBatch bounds each DELETE, and cleanupBatchesMax the
	// DELETEs of one turn, so that no lock is held long and the leader's
	// heartbeat is not held up.
	cleanupEvery      = time.Minute
	cleanupBatch      = 1000
	cleanupBatchesMax = 20
	// rescueBatchMax bounds the tasks taken back by one look.
	rescueBatchMax = 1000
)

// maintenance is the work of the leader, the one live pool that holds the
// leadership (see process), done at each of its heartbeats:
//
//   - it takes back the tasks of pools that stopped heartbeating (killed,
//     machine lost, cut off) and removes their entries: a crashed pool's
//     tasks come back within a few heartbeats, whatever their timeouts;
//   - every RescueInterval, it takes back tasks Running for longer than
//     their timeout plus RescueMargin (a Run that ignores its context);
//   - every minute, it deletes Done tasks older than CleanupDoneAfter, and
//     Failed and Cancelled ones older than CleanupFailedAfter, in bounded
//     batches;
//   - it counts the tasks by name, type and state for Stats, and reports
//     task names that are due but that no live pool serves.
//
// A task taken back fails its attempt (kind abandoned) and follows the
// retry rules; the tasks of names this pool does not know get the default
// backoff. The writes are guarded like any finishing write, so a task that
// finishes meanwhile is not touched twice.
type maintenance struct {
	db        *pgxpool.Pool
	log       *slog.Logger
	reg       *Registry
	retention RetentionMode
	cfg       Config

	lastRescue, lastCleanup, lastCount, lastUnserved time.Time
	countEvery                                       time.Duration
}

func (m *maintenance) lead(ctx context.Context) {
	now := time.Now()
	if err := m.reapDead(ctx); err != nil && ctx.Err() == nil {
		m.log.Warn("backie: taking back the tasks of dead pools failed", "error", err)
	}
	if now.Sub(m.lastRescue) >= m.cfg.RescueInterval {
		m.lastRescue = now
		if err := m.rescueTimedOut(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("backie: looking for abandoned tasks failed", "error", err)
		}
	}
	if now.Sub(m.lastCleanup) >= min(cleanupEvery, 10*m.cfg.HeartbeatInterval) {
		m.lastCleanup = now
		m.cleanup(ctx)
	}
	if now.Sub(m.lastCount) >= max(m.countEvery, min(countEveryMin, 3*m.cfg.HeartbeatInterval)) {
		m.lastCount = now
		if err := m.count(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("backie: counting tasks failed", "error", err)
		}
	}
	if now.Sub(m.lastUnserved) >= unservedEvery && !m.lastCount.IsZero() {
		m.lastUnserved = now
		m.reportUnserved(ctx)
	}
}

// reapDead takes back the tasks of the pools whose heartbeat stopped, then
// removes their entries. A crash between the two leaves the entries, and
// the next leader's look does it again.
func (m *maintenance) reapDead(ctx context.Context) error {
	rows, err := m.db.Query(ctx, sqlDeadProcesses)
	if err != nil {
		return opError("find dead pools", err)
	}
	type dead struct {
		id   uuid.UUID
		host string
		pid  int
	}
	var (
		gone []dead
		ids  []uuid.UUID
	)
	for rows.Next() {
		var d dead
		if err := rows.Scan(&d.id, &d.host, &d.pid); err != nil {
			rows.Close()
			return opError("find dead pools", err)
		}
		gone, ids = append(gone, d), append(ids, d.id)
	}
	if err := rows.Err(); err != nil {
		return opError("find dead pools", err)
	}
	if len(gone) == 0 {
		return nil
	}
	held, err := m.db.Query(ctx, sqlHeldBy, ids)
	if err != nil {
		return opError("find the tasks of dead pools", err)
	}
	recs, err := scanRecords(held, 0)
	if err != nil {
		return opError("find the tasks of dead pools", err)
	}
	if err := m.takeBack(ctx, recs, func(rec *TaskRecord) error {
		return fmt.Errorf("%w: its pool stopped heartbeating (running since %s): it was lost",
			ErrTaskTimeout, rec.RunningAt.UTC().Format(time.RFC3339Nano))
	}); err != nil {
		return err
	}
	if _, err := m.db.Exec(ctx, sqlRemoveProcesses, ids); err != nil {
		return opError("remove dead pools", err)
	}
	for _, d := range gone {
		m.log.Warn("backie: a pool stopped heartbeating; took back its tasks", "process_id", d.id, "host", d.host, "pid", d.pid)
	}
	return nil
}

// rescueTimedOut takes back tasks Running longer than their timeout plus
// RescueMargin, a batch at a time.
func (m *maintenance) rescueTimedOut(ctx context.Context) error {
	margin := m.cfg.RescueMargin
	for {
		rows, err := m.db.Query(ctx, sqlRescueTimedOut, margin.Milliseconds(), rescueBatchMax, priorities)
		if err != nil {
			return opError("rescue tasks", err)
		}
		recs, err := scanRecords(rows, 0)
		if err != nil {
			return opError("rescue tasks", err)
		}
		if err := m.takeBack(ctx, recs, func(rec *TaskRecord) error {
			return fmt.Errorf("%w: running since %s, longer than its timeout %v plus %v: its worker was lost",
				ErrTaskTimeout, rec.RunningAt.UTC().Format(time.RFC3339Nano), rec.Timeout, margin)
		}); err != nil || len(recs) < rescueBatchMax {
			return err
		}
	}
}

// takeBack fails the attempts of recs (kind abandoned) and writes it.
func (m *maintenance) takeBack(ctx context.Context, recs []*TaskRecord, why func(*TaskRecord) error) error {
	if len(recs) == 0 {
		return nil
	}
	now := time.Now()
	changes := make([]rowChange, 0, len(recs))
	for _, rec := range recs {
		task, _ := m.reg.decode(rec.Name, rec.Payload) // nil for names this pool does not know
		d := decide(attempt{rec: rec, task: task, abandoned: true, err: why(rec)}, m.retention, backoffOf(task), now)
		log := m.log.With("task_id", rec.ID, "task_name", rec.Name, "retries", rec.Retries, "attempt", rec.Attempt)
		if d.verdict == verdictRetry {
			log.Warn("backie: took back an abandoned task, will retry", "error", d.info.Message, "backoff", d.delay)
		} else {
			log.Error("backie: took back an abandoned task, failed for good", "error", d.info.Message)
		}
		changes = append(changes, d.change)
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.FinishTimeout)
	defer cancel()
	return writeRowChanges(ctx, m.db, changes)
}

// cleanup deletes finished tasks past their retention.
func (m *maintenance) cleanup(ctx context.Context) {
	for _, c := range []struct {
		what  string
		sql   string
		after time.Duration
	}{
		{"done", sqlCleanupDone, m.cfg.CleanupDoneAfter},
		{"failed and cancelled", sqlCleanupFailed, m.cfg.CleanupFailedAfter},
	} {
		if c.after == KeepForever {
			continue
		}
		var deleted int64
		for range cleanupBatchesMax {
			tag, err := m.db.Exec(ctx, c.sql, c.after.Milliseconds(), cleanupBatch)
			if err != nil {
				if ctx.Err() == nil {
					m.log.Warn("backie: deleting old finished tasks failed", "tasks", c.what, "error", err)
				}
				return
			}
			deleted += tag.RowsAffected()
			if tag.RowsAffected() < cleanupBatch {
				break
			}
		}
		if deleted > 0 {
			m.log.Info("backie: deleted old finished tasks", "tasks", c.what, "count", deleted, "older_than", c.after)
		}
	}
	if _, err := m.db.Exec(ctx, sqlCleanupThroughput); err != nil && ctx.Err() == nil {
		m.log.Warn("backie: deleting old throughput failed", "error", err)
	}
}

// count refreshes the counts Stats reads, and sets when to count next.
func (m *maintenance) count(ctx context.Context) error {
	start := time.Now()
	if err := countTasks(ctx, m.db); err != nil {
		return opError("count tasks", err)
	}
	m.countEvery = countCost * time.Since(start)
	return nil
}

// countTasks replaces the count of tasks that Stats reads.
func countTasks(ctx context.Context, db *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlClearCounts); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sqlCount)
		return err
	})
}

func (m *maintenance) reportUnserved(ctx context.Context) {
	counts, _, err := readCounts(ctx, m.db, sqlCounts)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("backie: looking for tasks no pool serves failed", "error", err)
		}
		return
	}
	procs, err := listProcesses(ctx, m.db)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("backie: looking for tasks no pool serves failed", "error", err)
		}
		return
	}
	for _, u := range unserved(counts, procs, time.Now(), unservedAfter) {
		m.log.Warn("backie: tasks are due but no live pool serves their name and type; register the name in a pool's registry (and its type in Config.TaskTypes)",
			"task_name", u.Name, "task_type", u.Type, "tasks", u.Count, "due_for", u.DueFor.Round(time.Second))
	}
}
