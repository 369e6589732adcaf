package backie

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Settings of the leader's watch for tasks nobody serves.
const (
	// unservedAfter is how long a task must have been due, with no live
	// pool serving its name and type, before the leader reports it.
	unservedAfter = time.Minute
	// unservedEvery is how often at most the leader reports them.
	unservedEvery = time.Minute
	// unservedScan bounds how many of the oldest due tasks one look reads.
	unservedScan = 10000
)

// maintenance is the work of the leader, the one live pool that holds the
// leadership (see process): it runs at each of the leader's heartbeats.
// It reports task names that are due but that no live pool serves: a pool
// claims only the names it has registered, so that processes with
// different task sets can share a table, and a name that no process serves
// would otherwise wait forever in silence.
type maintenance struct {
	db      *pgxpool.Pool
	log     *slog.Logger
	timeout time.Duration // HeartbeatTimeout: who is alive

	lastUnserved time.Time
}

func (m *maintenance) lead(ctx context.Context) {
	if time.Since(m.lastUnserved) >= unservedEvery {
		m.lastUnserved = time.Now()
		m.reportUnserved(ctx)
	}
}

// unservedTask is a task name and type that no live pool serves.
type unservedTask struct {
	Name   string
	Type   TaskType
	Count  int64
	DueFor time.Duration
}

func (m *maintenance) reportUnserved(ctx context.Context) {
	found, err := findUnserved(ctx, m.db, unservedAfter, m.timeout)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("backie: looking for tasks no pool serves failed", "error", err)
		}
		return
	}
	for _, u := range found {
		m.log.Warn("backie: tasks are due but no live pool serves their name and type; register the name in a pool's registry (and its type in Config.TaskTypes)",
			"task_name", u.Name, "task_type", u.Type, "tasks", u.Count, "due_for", u.DueFor.Round(time.Second))
	}
}

// findUnserved returns the task names and types with tasks due for longer
// than after that no pool with a heartbeat younger than alive serves.
func findUnserved(ctx context.Context, db *pgxpool.Pool, after, alive time.Duration) ([]unservedTask, error) {
	rows, err := db.Query(ctx, sqlUnserved, after.Milliseconds(), unservedScan, alive.Milliseconds())
	if err != nil {
		return nil, opError("find unserved tasks", err)
	}
	defer rows.Close()
	var out []unservedTask
	for rows.Next() {
		var (
			u    unservedTask
			typ  string
			secs float64
		)
		if err := rows.Scan(&u.Name, &typ, &u.Count, &secs); err != nil {
			return nil, opError("find unserved tasks", err)
		}
		u.Type, u.DueFor = TaskType(typ), time.Duration(secs*float64(time.Second))
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, opError("find unserved tasks", err)
	}
	return out, nil
}
