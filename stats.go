package backie

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// StateCounts counts tasks by state.
type StateCounts struct {
	Ready, Scheduled, Running, Done, Failed, Cancelled int64
}

// Of returns the count of state s.
func (c StateCounts) Of(s TaskState) int64 {
	switch s {
	case StateReady:
		return c.Ready
	case StateScheduled:
		return c.Scheduled
	case StateRunning:
		return c.Running
	case StateDone:
		return c.Done
	case StateFailed:
		return c.Failed
	case StateCancelled:
		return c.Cancelled
	}
	return 0
}

// Total returns the sum of the counts.
func (c StateCounts) Total() int64 {
	return c.Ready + c.Scheduled + c.Running + c.Done + c.Failed + c.Cancelled
}

func (c *StateCounts) add(s TaskState, n int64) {
	switch s {
	case StateReady:
		c.Ready += n
	case StateScheduled:
		c.Scheduled += n
	case StateRunning:
		c.Running += n
	case StateDone:
		c.Done += n
	case StateFailed:
		c.Failed += n
	case StateCancelled:
		c.Cancelled += n
	}
}

// TypeStats are the counts and the lag of one task type.
type TypeStats struct {
	Type TaskType
	StateCounts
	// Lag is how long the oldest Ready task of the type has been due; 0
	// when none is Ready.
	Lag time.Duration
	// Paused says whether the type is paused (PauseType).
	Paused bool
}

// Process is a live worker pool, from backie_processes.
type Process struct {
	ID        uuid.UUID
	Host      string
	PID       int
	TaskNames []string
	TaskTypes []TaskType // nil: every type
	Workers   int
	// Running is how many tasks the pool ran at its last heartbeat.
	Running     int
	StartedAt   time.Time
	HeartbeatAt time.Time
	// Leader says whether the pool is the leader (see WorkerPool).
	Leader bool
}

// serves reports whether p claims tasks of name and typ.
func (p *Process) serves(name string, typ TaskType) bool {
	return slices.Contains(p.TaskNames, name) && (p.TaskTypes == nil || slices.Contains(p.TaskTypes, typ))
}

// UnservedTask is a task name and type with tasks due for over a minute
// that no live pool serves.
type UnservedTask struct {
	Name string
	Type TaskType
	// Count is how many tasks of the name and type are Ready.
	Count int64
	// DueFor is how long the oldest of them has been due.
	DueFor time.Duration
}

// Throughput is the number of attempts that finished in one minute.
type Throughput struct {
	Minute time.Time
	// Done counts successes, Failed attempts that failed their task for
	// good, Retried failed attempts that will be retried.
	Done, Failed, Retried int64
}

// Stats is a view of the queue: see PgQueue.Stats.
type Stats struct {
	// CountedAt is when the counts were taken.
	CountedAt time.Time
	// Totals are the counts of every type.
	Totals StateCounts
	// Types are the counts per task type, sorted by type.
	Types []TypeStats
	// Paused are the paused types.
	Paused []PausedType
	// Processes are the live worker pools.
	Processes []Process
	// Unserved are the task names and types due for over a minute that no
	// live pool serves.
	Unserved []UnservedTask
	// Throughput holds the attempts finished per minute over the last hour,
	// oldest first (minutes without any are left out).
	Throughput []Throughput
}

// countsMaxAge is how old the leader's count may be before Stats counts
// again itself (no pool runs, or the leader is behind).
const countsMaxAge = time.Minute

// Stats returns the counts of tasks by state and type, the age of the
// oldest Ready task of each type (lag), the paused types, the live pools,
// the task names due that no live pool serves, and the throughput of the
// last hour.
//
// The counts come from the leader's last count, which it refreshes every 5
// seconds or more (less often when counting takes longer: counting reads
// the whole table); CountedAt says when. When no count is younger than a
// minute (no pool runs), Stats counts itself, which takes as long as a
// read of the table, and stores nothing: Stats only reads. The lag, the
// pools and the paused types are current.
func (q *PgQueue) Stats(ctx context.Context) (*Stats, error) {
	if err := q.check(ctx); err != nil {
		return nil, opError("stats", err)
	}
	counts, at, err := readCounts(ctx, q.pool, sqlCounts)
	if err != nil {
		return nil, opError("stats", err)
	}
	if time.Since(at) > countsMaxAge {
		// No pool counted lately: count now, without storing it (Stats
		// writes nothing, so that a read-only role can call it).
		if counts, at, err = readCounts(ctx, q.pool, sqlCountSelect); err != nil {
			return nil, opError("stats: count tasks", err)
		}
		if len(counts) == 0 {
			at = time.Now()
		}
	}
	st := &Stats{CountedAt: at}
	byType := map[TaskType]*TypeStats{}
	for _, c := range counts {
		st.Totals.add(c.state, c.n)
		ts := byType[c.typ]
		if ts == nil {
			ts = &TypeStats{Type: c.typ}
			byType[c.typ] = ts
		}
		ts.add(c.state, c.n)
	}
	if st.Paused, err = pausedTypes(ctx, q.pool); err != nil {
		return nil, opError("stats", err)
	}
	for _, p := range st.Paused {
		if byType[p.Type] == nil {
			byType[p.Type] = &TypeStats{Type: p.Type}
		}
		byType[p.Type].Paused = true
	}
	types := make([]string, 0, len(byType))
	for t := range byType {
		types = append(types, string(t))
	}
	slices.Sort(types)
	if err := readLag(ctx, q.pool, types, byType); err != nil {
		return nil, opError("stats", err)
	}
	for _, t := range types {
		st.Types = append(st.Types, *byType[TaskType(t)])
	}
	if st.Processes, err = listProcesses(ctx, q.pool); err != nil {
		return nil, opError("stats", err)
	}
	st.Unserved = unserved(counts, st.Processes, time.Now(), unservedAfter)
	if st.Throughput, err = readThroughput(ctx, q.pool); err != nil {
		return nil, opError("stats", err)
	}
	return st, nil
}

// Processes returns the live worker pools, oldest first.
func (q *PgQueue) Processes(ctx context.Context) ([]Process, error) {
	if err := q.check(ctx); err != nil {
		return nil, opError("processes", err)
	}
	procs, err := listProcesses(ctx, q.pool)
	if err != nil {
		return nil, opError("processes", err)
	}
	return procs, nil
}

// count is one row of backie_counts.
type count struct {
	name   string
	typ    TaskType
	state  TaskState
	n      int64
	oldest *time.Time
}

// readCounts returns the counts sql reads (sqlCounts: the leader's last
// count; sqlCountSelect: a count now) and when they were taken (the zero
// time when there are none).
func readCounts(ctx context.Context, db *pgxpool.Pool, sql string) ([]count, time.Time, error) {
	rows, err := db.Query(ctx, sql)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer rows.Close()
	var (
		out []count
		at  time.Time
	)
	for rows.Next() {
		var (
			c          count
			typ, state string
		)
		if err := rows.Scan(&c.name, &typ, &state, &c.n, &c.oldest, &at); err != nil {
			return nil, time.Time{}, err
		}
		c.typ, c.state = TaskType(typ), TaskState(state)
		out = append(out, c)
	}
	return out, at, rows.Err()
}

// readLag sets the Lag of the types.
func readLag(ctx context.Context, db *pgxpool.Pool, types []string, byType map[TaskType]*TypeStats) error {
	if len(types) == 0 {
		return nil
	}
	rows, err := db.Query(ctx, sqlLag, types, priorities)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			typ  string
			secs *float64
		)
		if err := rows.Scan(&typ, &secs); err != nil {
			return err
		}
		if ts := byType[TaskType(typ)]; ts != nil && secs != nil {
			ts.Lag = max(time.Duration(*secs*float64(time.Second)), 0)
		}
	}
	return rows.Err()
}

func readThroughput(ctx context.Context, db *pgxpool.Pool) ([]Throughput, error) {
	rows, err := db.Query(ctx, sqlThroughput)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Throughput
	for rows.Next() {
		var t Throughput
		if err := rows.Scan(&t.Minute, &t.Done, &t.Failed, &t.Retried); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func listProcesses(ctx context.Context, db *pgxpool.Pool) ([]Process, error) {
	rows, err := db.Query(ctx, sqlProcesses, leadership)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Process
	for rows.Next() {
		var (
			p     Process
			types []string
		)
		if err := rows.Scan(&p.ID, &p.Host, &p.PID, &p.TaskNames, &types, &p.Workers, &p.Running, &p.StartedAt,
			&p.HeartbeatAt, &p.Leader); err != nil {
			return nil, err
		}
		if types != nil {
			p.TaskTypes = make([]TaskType, len(types))
			for i, t := range types {
				p.TaskTypes[i] = TaskType(t)
			}
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// unserved returns the names and types of counts with Ready tasks due for
// longer than after that none of procs serves.
func unserved(counts []count, procs []Process, now time.Time, after time.Duration) []UnservedTask {
	var out []UnservedTask
	for _, c := range counts {
		if c.state != StateReady || c.oldest == nil || now.Sub(*c.oldest) < after {
			continue
		}
		if slices.ContainsFunc(procs, func(p Process) bool { return p.serves(c.name, c.typ) }) {
			continue
		}
		out = append(out, UnservedTask{Name: c.name, Type: c.typ, Count: c.n, DueFor: now.Sub(*c.oldest)})
	}
	slices.SortFunc(out, func(a, b UnservedTask) int {
		if a.Name != b.Name {
			return cmp.Compare(a.Name, b.Name)
		}
		return cmp.Compare(a.Type, b.Type)
	})
	return out
}
