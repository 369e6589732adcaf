package backie

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// This file holds every SQL statement the library sends, the column list
// of a task and the codec of its row. Statements are constants, written
// out in full, except the claims, which are assembled from the fragments
// below; testdata/sql/*.sql holds their final text, checked by
// TestClaimStatementsGolden (go test -run Golden -update rewrites it).

// "Not done" is spelled three ways on purpose. The claims and the
// finishing writes run on generic plans (see sqlPlanSettings), and
// PostgreSQL considers a partial index only for a statement whose WHERE
// clause implies the index's predicate. Each spelling therefore chooses
// which partial indexes a statement may use, whatever the statistics were
// when its plan was made:
const (
	// notDone matches backie_tasks_claim_idx and backie_tasks_uniq_idx:
	// the all-types claim, the rescuer and the unique-task lookup.
	notDone = `done_at IS NULL`
	// notDoneByType matches only backie_tasks_type_claim_idx (migration
	// 000002): the claims of pools that name their task types.
	notDoneByType = `num_nulls(done_at) = 1`
	// notDoneByID matches no partial index: the finishing writes find each
	// task by its id, never by scanning a claim index (a plan made while
	// the table looked empty would scan all of it for every batch).
	notDoneByID = `num_nonnulls(done_at) = 0`
)

// recordColumns are the columns of a TaskRecord, in the order scanRecord
// reads them.
var recordColumns = []string{
	"id", "task_name", "task_type", "uniq_hash", "priority", "payload", "timeout_msecs", "created_at",
	"scheduled_at", "running_at", "done_at", "cancelled_at", "error_info", "retries", "max_retries", "attempt",
	"process_id", "metadata",
}

// columns returns recordColumns as a select list, each with prefix.
func columns(prefix string) string {
	var b strings.Builder
	for i, c := range recordColumns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(prefix)
		b.WriteString(c)
	}
	return b.String()
}

// scanRecord scans the recordColumns of one row.
func scanRecord(row pgx.Row) (*TaskRecord, error) { return scanRecordAnd(row) }

// scanRecordAnd scans the recordColumns of one row, then the columns that
// follow them into extra.
func scanRecordAnd(row pgx.Row, extra ...any) (*TaskRecord, error) {
	var (
		r         TaskRecord
		name, typ string
		hash      *string
		priority  int16
		timeoutMS int64
		errInfo   []byte
		process   pgtype.UUID
		metadata  []byte
	)
	dest := append([]any{(*[16]byte)(&r.ID), &name, &typ, &hash, &priority, &r.Payload, &timeoutMS, &r.CreatedAt,
		&r.ScheduledAt, &r.RunningAt, &r.DoneAt, &r.CancelledAt, &errInfo, &r.Retries, &r.MaxRetries, &r.Attempt,
		&process, &metadata}, extra...)
	err := row.Scan(dest...)
	if err != nil {
		return nil, err
	}
	r.Name, r.Type, r.Timeout = name, TaskType(typ), time.Duration(timeoutMS)*time.Millisecond
	r.Priority = int(priority)
	if process.Valid {
		id := uuid.UUID(process.Bytes)
		r.ProcessID = &id
	}
	if metadata != nil {
		_ = json.Unmarshal(metadata, &r.Metadata) // stored by the library: a JSON object of strings
	}
	if hash != nil {
		r.UniqHash = TaskHash(*hash)
	}
	if errInfo != nil {
		r.Error = new(ErrorInfo)
		if err := json.Unmarshal(errInfo, r.Error); err != nil {
			r.Error = &ErrorInfo{Message: string(errInfo)}
		}
	}
	return &r, nil
}

// scanRecords scans every row of rows.
func scanRecords(rows pgx.Rows, capacity int) ([]*TaskRecord, error) {
	defer rows.Close()
	recs := make([]*TaskRecord, 0, capacity)
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, rows.Err()
}

// pgID is how an id is sent to PostgreSQL. pgx encodes a pgtype.UUID
// straight into the binary format when it knows the parameter's type (its
// default, prepared statements), and as text when it does not
// (QueryExecModeExec and the simple protocol, which PgBouncer users
// choose); a uuid.UUID would go through driver.Valuer and fmt, and a
// [16]byte cannot be encoded at all without the parameter's type.
func pgID(id TaskID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

// pgIDs converts ids with pgID.
func pgIDs(ids []TaskID) []pgtype.UUID {
	out := make([]pgtype.UUID, len(ids))
	for i, id := range ids {
		out[i] = pgID(id)
	}
	return out
}

// --- Enqueueing --------------------------------------------------------

// sqlChannel is the LISTEN/NOTIFY channel of the tables of the current
// schema. A channel name is at most 63 bytes; a schema name long enough to
// pass that (in bytes: 26 characters such as é already do) is replaced by
// its MD5, so that every schema PostgreSQL accepts gets a channel, the
// same one for the inserts and the listener.
const sqlChannel = `CASE WHEN octet_length('backie_tasks:' || current_schema()) <= 63
	THEN 'backie_tasks:' || current_schema()
	ELSE 'backie_tasks:' || md5(current_schema()) END`

// sqlSelectChannel returns the channel, for the listener.
const sqlSelectChannel = `SELECT ` + sqlChannel

// sqlInsert inserts one task per row of the arrays. A unique task whose
// name and hash are taken by an unfinished task is skipped (ON CONFLICT on
// the partial unique index); rows take the unique index in (name, hash)
// order, so concurrent batches cannot deadlock. It notifies listening pools
// with the delay until each type's earliest new task is due,
// "t<milliseconds>:<type>" (see parseTaskNotification), and, when that
// task is due now, with the delay until the type's earliest new task that
// is not: a pool that woke for a task due at a time looks ahead for the
// next one, but a pool notified of a task due now does not. In a
// transaction the notifications are delivered at commit.
const sqlInsert = `WITH ins AS (
	INSERT INTO backie_tasks (id, task_name, task_type, uniq_hash, priority, payload, timeout_msecs, max_retries,
	                          scheduled_at, metadata)
	SELECT t.id, t.name, t.typ, t.hash, t.priority, t.payload, t.tmo, t.mr,
	       COALESCE(t.run_at, now() + t.delay_ms * interval '1 millisecond'), t.meta
	FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::smallint[], $6::jsonb[], $7::bigint[], $8::int[],
	            $9::timestamptz[], $10::bigint[], $11::jsonb[])
	     AS t(id, name, typ, hash, priority, payload, tmo, mr, run_at, delay_ms, meta)
	ORDER BY t.name, t.hash
	ON CONFLICT (task_name, uniq_hash) WHERE uniq_hash IS NOT NULL AND done_at IS NULL DO NOTHING
	RETURNING id, task_type, created_at, scheduled_at
), notified AS (
	SELECT pg_notify(` + sqlChannel + `,
	       't' || greatest(ceil(extract(epoch FROM first - clock_timestamp()) * 1000), 0)::bigint || ':' || typ)
	FROM (SELECT task_type AS typ, min(scheduled_at) AS first FROM ins GROUP BY task_type
	      UNION
	      SELECT task_type, min(scheduled_at) FROM ins WHERE scheduled_at > now() GROUP BY task_type) AS due
)
SELECT id, created_at, scheduled_at, (SELECT count(*) FROM notified) FROM ins`

// sqlFindUnfinishedUnique returns the unfinished tasks holding the (name,
// hash) pairs of the arrays.
var sqlFindUnfinishedUnique = `SELECT ` + columns("") + `
FROM backie_tasks
WHERE (task_name, uniq_hash) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND ` + notDone

// --- Looking at and removing tasks ------------------------------------

var sqlFindTask = `SELECT ` + columns("") + ` FROM backie_tasks WHERE id = $1`

const (
	sqlDeleteTask        = `DELETE FROM backie_tasks WHERE id = $1`
	sqlDeleteTasksOfType = `DELETE FROM backie_tasks WHERE task_type = $1`
	sqlDeleteAllTasks    = `DELETE FROM backie_tasks`
	// sqlCheckTables fails with undefined_table before the migrations.
	sqlCheckTables = `SELECT (SELECT 1 FROM backie_tasks LIMIT 0), (SELECT 1 FROM backie_processes LIMIT 0)`
)

// --- Claiming ----------------------------------------------------------

// sqlPlanSettings sets, for the rest of the transaction it is sent in, how
// PostgreSQL plans the claim and the finishing writes. It goes first in the
// same round trip and the same implicit transaction as those statements,
// so nothing leaks into the caller's connections (set_config(…, true) ends
// with the transaction).
//
// PostgreSQL plans a prepared statement afresh on every execution when it
// guesses that a plan for the actual parameters beats the generic one, and
// with array and LIMIT parameters it always guesses so; planning a claim
// cost more server CPU than running it (docs/benchmarks.md). Each of these
// statements has one right plan at every table size, index lookups driven
// by a claim index or by the ids, so they use a generic plan, made once
// per connection and statement. Such a plan outlives the statistics it was
// made with (a table empty at the first claim may hold a million tasks an
// hour later), and, not knowing LIMIT $3 or the length of an id array, it
// would rather read the whole table, or, made on a table that was empty,
// scan all of it once per id; so scans and joins that read a whole table,
// sort it or keep it in memory are ruled out while it is made (the plans
// are checked in plan_test.go, on an empty and on a large table). JIT is
// off too: with a large backlog the generic claim's estimate passes
// jit_above_cost, and JIT would then compile the claim on every call, for
// far longer than the claim runs.
//
// Its last column is the transaction's now(), the time a claim sent after
// it compares scheduled_at with (see sqlNextDue).
const sqlPlanSettings = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
	set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
	set_config('enable_sort', 'off', true), set_config('enable_hashjoin', 'off', true),
	set_config('enable_mergejoin', 'off', true), set_config('enable_material', 'off', true),
	set_config('jit', 'off', true), now()`

// A claim marks up to $3 Ready tasks Running and returns them, in one
// statement: the inner SELECT … FOR UPDATE SKIP LOCKED takes rows no other
// transaction holds, so no task is handed to two workers, across goroutines
// and processes. attempt is bumped so that finishing writes can tell this
// attempt from a later one, and process_id says which pool holds the task.
//
// Parameters: $1 the pool's task names, $2 its task types (null: every
// type), $3 how many, $4 the pool's TaskTimeout in milliseconds (null: each
// task's own), $5 the pool's process id, and $6, $7, $8 the priorities in
// claim order with a cursor for each: the (scheduled_at, id) of the last
// task the pool claimed at that priority ('-infinity' for none).
//
// The scan runs once per priority (claimLevels), so that each walks the
// claim index in order from its own due tasks, and the outer LIMIT stops
// the next priorities' scans as soon as $3 tasks are locked: a backlog of
// lower priority costs a claim nothing, and neither do tasks scheduled for
// later (they sort after the due ones of their priority). The statement
// has no ORDER BY across priorities: the nested loop returns them in the
// order of $6 (the plans are checked in plan_test.go). Tasks of a paused
// type are left alone.
const claimUpdate = `UPDATE backie_tasks AS t
SET running_at = now(), attempt = t.attempt + 1, timeout_msecs = COALESCE($4::bigint, t.timeout_msecs),
    process_id = $5::uuid
FROM (
	SELECT c.id FROM unnest($6::smallint[], $7::timestamptz[], $8::uuid[]) AS lv(priority, after_at, after_id)
	CROSS JOIN LATERAL (
%s
	) AS c
	LIMIT $3
) AS c
WHERE t.id = c.id
RETURNING %s`

// claimScan locks up to $3 Ready tasks of priority lv.priority in claim
// order, oldest scheduled_at first, after the priority's cursor: %[1]s is
// the select list, %[2]s the unfinished-and-type condition, %[3]s the
// paused-types condition, %[4]s the time tasks must be due by.
const claimScan = `		SELECT %[1]s FROM backie_tasks
		WHERE %[2]s AND priority = lv.priority
		  AND scheduled_at <= %[4]s AND (scheduled_at, id) > (lv.after_at, lv.after_id)
		  AND running_at IS NULL AND task_name = ANY($1::text[])%[3]s
		ORDER BY scheduled_at, id
		LIMIT $3
		FOR UPDATE SKIP LOCKED`

// claimEachType is the scan of a pool that serves a few task types ($2,
// without duplicates), for one priority. One index scan cannot return
// several types' tasks in claim order, so each type is read through
// backie_tasks_type_claim_idx on its own (%s, a claimScan), and the oldest
// $3 of what those scans lock are claimed. Each scan must lock up to $3
// tasks, since the oldest $3 due tasks may all be of one type; the locks
// on tasks not claimed end with the statement's transaction, a few
// milliseconds later. Such a claim took every worker it had, so this pool
// claims again as soon as a worker is free; another pool whose claim
// skipped those tasks while they were locked finds them at its next claim,
// wake-up or poll. Walking backie_tasks_claim_idx and filtering types in
// the heap instead would step over every due task of the types the pool
// does not serve, on every claim that starts from the head of the queue.
// Paused types are not scanned at all.
const claimEachType = `		SELECT s.id FROM unnest($2::text[]) AS ty(task_type)
		CROSS JOIN LATERAL (
	%s
		) AS s
		WHERE ty.task_type <> ALL (ARRAY(SELECT task_type FROM backie_paused_types))
		ORDER BY s.scheduled_at, s.id
		LIMIT $3`

// Conditions of the claim scans.
const (
	// claimAnyType: the pool's types, or every type when $2 is null; the
	// scan walks backie_tasks_claim_idx and filters types in the heap.
	claimAnyType = notDone + ` AND ($2::text[] IS NULL OR task_type = ANY($2::text[]))`
	// claimOneType: $2 holds the pool's only type; the scan walks
	// backie_tasks_type_claim_idx, which holds that type's tasks in claim
	// order, so it never steps over the due tasks of other types.
	claimOneType = notDoneByType + ` AND task_type = ($2::text[])[1]`
	// claimTypeOfRow: the type of the row of unnest($2) the scan is for.
	claimTypeOfRow = notDoneByType + ` AND task_type = ty.task_type`
	// notPausedRow: the task's type is not paused; the array of paused
	// types is read once per statement.
	notPausedRow = `
		  AND task_type <> ALL (ARRAY(SELECT task_type FROM backie_paused_types))`
	// notPausedOnly: the pool's only type is not paused; checked once, so
	// a paused type's tasks are not even read.
	notPausedOnly = `
		  AND NOT EXISTS (SELECT FROM backie_paused_types WHERE task_type = ($2::text[])[1])`
)

// claimShape is which claim statement a pool uses, by how many task types
// it names.
type claimShape int

const (
	claimShapeAnyType  claimShape = iota // every type, or more than claimTypesMax
	claimShapeOneType                    // exactly one type
	claimShapeEachType                   // 2..claimTypesMax types
)

// claimTypesMax is the most task types a pool may serve and still claim
// through backie_tasks_type_claim_idx, one scan per type. Each of those
// scans locks up to a claim's worth of tasks, most of which the claim does
// not take.
const claimTypesMax = 8

func shapeFor(types []string) claimShape {
	switch {
	case len(types) == 1:
		return claimShapeOneType
	case len(types) > 1 && len(types) <= claimTypesMax:
		return claimShapeEachType
	}
	return claimShapeAnyType
}

// claimSQL holds the claim statements, by shape.
var claimSQL = [3]string{
	claimShapeAnyType: fmt.Sprintf(claimUpdate, fmt.Sprintf(claimScan, "id", claimAnyType, notPausedRow, "now()"), columns("t.")),
	claimShapeOneType: fmt.Sprintf(claimUpdate, fmt.Sprintf(claimScan, "id", claimOneType, notPausedOnly, "now()"), columns("t.")),
	claimShapeEachType: fmt.Sprintf(claimUpdate, fmt.Sprintf(claimEachType,
		strings.ReplaceAll(fmt.Sprintf(claimScan, "id, scheduled_at", claimTypeOfRow, "", "now()"), "\n", "\n\t")), columns("t.")),
}

// sqlClaimDueBy is the claim of PgQueue.RunNext: the any-type claim of the
// tasks due by $9 (a test's clock), or by now() when $9 is null.
var sqlClaimDueBy = fmt.Sprintf(claimUpdate,
	fmt.Sprintf(claimScan, "id", claimAnyType, notPausedRow, "COALESCE($9::timestamptz, now())"), columns("t."))

// noCursor is the cursor of a priority the pool has not claimed from.
var noCursor = pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}

// sqlNextDue returns how many seconds from now the pool's next task is
// due (null when none is), among the tasks that were not due yet for the
// claim that ran at $4 and are due within $3 milliseconds: a pool that
// drained what was due sleeps until then rather than until its next poll.
// A task that became due since the claim gives a negative delay. The
// window bounds the scan, which walks the claim index and filters names
// and types in the heap.
const sqlNextDue = `SELECT extract(epoch FROM min(scheduled_at) - clock_timestamp())::float8
FROM backie_tasks
WHERE ` + notDone + ` AND priority = ANY($5::smallint[]) AND running_at IS NULL
  AND scheduled_at > $4::timestamptz AND scheduled_at <= now() + $3::bigint * interval '1 millisecond'
  AND task_name = ANY($1::text[]) AND ($2::text[] IS NULL OR task_type = ANY($2::text[]))
  AND task_type <> ALL (ARRAY(SELECT task_type FROM backie_paused_types))`

// --- Finishing ---------------------------------------------------------

// The finishing writes match on (id, attempt) with the task still Running
// and unfinished, so only the attempt that owns a task can finish it: a
// task removed, rescued or claimed again in the meantime is left alone, and
// replaying a write after a lost connection changes nothing. They find
// each task by its id (notDoneByID).
//
// sqlFinishUpdate applies a rowChange per task; see rowChange for what
// each column means. A task whose cancellation was asked for while it ran
// (cancelled_at set) is finished whatever the attempt says: it becomes
// Cancelled and is never retried.
const (
	sqlFinishDelete = `DELETE FROM backie_tasks AS t
USING unnest($1::uuid[], $2::int[]) AS f(id, attempt)
WHERE t.id = f.id AND t.attempt = f.attempt AND t.running_at IS NOT NULL AND ` + notDoneByID

	sqlFinishUpdate = `UPDATE backie_tasks AS t SET
	running_at   = CASE WHEN f.finish OR t.cancelled_at IS NOT NULL THEN t.running_at END,
	done_at      = CASE WHEN f.finish OR t.cancelled_at IS NOT NULL THEN now() END,
	error_info   = CASE WHEN f.keep_error THEN t.error_info ELSE f.error_info END,
	retries      = t.retries + CASE WHEN t.cancelled_at IS NULL THEN f.add_retries ELSE 0 END,
	scheduled_at = CASE WHEN t.cancelled_at IS NULL
	                    THEN COALESCE(now() + f.delay_ms * interval '1 millisecond', t.scheduled_at)
	                    ELSE t.scheduled_at END
FROM unnest($1::uuid[], $2::int[], $3::bool[], $4::bool[], $5::jsonb[], $6::int[], $7::bigint[])
	AS f(id, attempt, finish, keep_error, error_info, add_retries, delay_ms)
WHERE t.id = f.id AND t.attempt = f.attempt AND t.running_at IS NOT NULL AND ` + notDoneByID
)

// --- Rescuing (the leader) ---------------------------------------------

// sqlRescueTimedOut finds tasks Running for longer than their timeout plus
// the margin ($1 ms): their worker was lost without its pool being seen
// dead, or their Run ignores its context. A Running task was scheduled
// before it was claimed, so the scheduled_at bound (implied by the
// running_at one) lets the claim index limit the scan to tasks due for
// longer than the margin, at each priority.
var sqlRescueTimedOut = `SELECT ` + columns("") + `
FROM backie_tasks
WHERE ` + notDone + ` AND priority = ANY($3::smallint[]) AND running_at IS NOT NULL
  AND scheduled_at < now() - $1::bigint * interval '1 millisecond'
  AND running_at < now() - (timeout_msecs + $1::bigint) * interval '1 millisecond'
LIMIT $2`

// sqlHeldBy returns the Running tasks held by the pools $1, which are
// dead: their heartbeat stopped. Rare enough (a pool was killed) to read
// every unfinished task.
var sqlHeldBy = `SELECT ` + columns("") + `
FROM backie_tasks
WHERE ` + notDone + ` AND running_at IS NOT NULL AND process_id = ANY($1::uuid[])`

// --- Live processes and the leader ------------------------------------

const (
	// sqlRegisterProcess records a running pool, or renews the record of
	// one that was declared dead.
	sqlRegisterProcess = `INSERT INTO backie_processes (id, host, pid, task_names, task_types, workers, heartbeat_timeout_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`

	// sqlHeartbeat renews a pool's record with the number of tasks it
	// runs; no row means it was declared dead and removed, and must
	// register again.
	sqlHeartbeat = `UPDATE backie_processes SET heartbeat_at = now(), running = $2 WHERE id = $1`

	// sqlAddThroughput adds a pool's finished attempts since its last
	// heartbeat to the current minute's row.
	sqlAddThroughput = `INSERT INTO backie_throughput AS t (minute, process_id, done, failed, retried)
VALUES (date_trunc('minute', now()), $1, $2, $3, $4)
ON CONFLICT (minute, process_id) DO UPDATE
	SET done = t.done + excluded.done, failed = t.failed + excluded.failed, retried = t.retried + excluded.retried`

	sqlUnregisterProcess = `DELETE FROM backie_processes WHERE id = $1`

	// sqlElect makes process $2 the holder of leadership $1 for $3
	// milliseconds, when nobody holds it, when its holder let it expire, or
	// when $2 already holds it (a renewal). It returns a row when $2 holds
	// it afterwards.
	sqlElect = `INSERT INTO backie_leader AS l (name, process_id, expires_at)
VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond')
ON CONFLICT (name) DO UPDATE
	SET process_id = excluded.process_id, expires_at = excluded.expires_at,
	    elected_at = CASE WHEN l.process_id = excluded.process_id THEN l.elected_at ELSE now() END
	WHERE l.process_id = excluded.process_id OR l.expires_at < now()
RETURNING elected_at`

	// sqlResign hands leadership $1 back at once, so that another process
	// takes it at its next election instead of after the expiry.
	sqlResign = `DELETE FROM backie_leader WHERE name = $1 AND process_id = $2`

	// sqlDeadProcesses returns the pools whose last heartbeat is older than
	// their own heartbeat timeout.
	sqlDeadProcesses = `SELECT id, host, pid FROM backie_processes
WHERE heartbeat_at < now() - heartbeat_timeout_ms * interval '1 millisecond'`

	// sqlRemoveProcesses removes the records of dead pools, once their
	// tasks are taken back.
	sqlRemoveProcesses = `DELETE FROM backie_processes WHERE id = ANY($1::uuid[])`

	// sqlProcesses lists the live pools, with the leader.
	sqlProcesses = `SELECT p.id, p.host, p.pid, p.task_names, p.task_types, p.workers, p.running, p.started_at,
	p.heartbeat_at, l.process_id IS NOT NULL
FROM backie_processes AS p
LEFT JOIN backie_leader AS l ON l.name = $1 AND l.process_id = p.id AND l.expires_at >= now()
ORDER BY p.started_at, p.id`

	// sqlCancelRequested returns which of the tasks $1 a pool runs were
	// cancelled (polled when notifications are off).
	sqlCancelRequested = `SELECT id FROM backie_tasks WHERE id = ANY($1::uuid[]) AND cancelled_at IS NOT NULL`
)

// --- Maintenance (the leader) -----------------------------------------

const (
	// sqlCleanupDone deletes up to $2 Done tasks finished more than $1 ms
	// ago, oldest first, through backie_tasks_done_idx: a bounded batch,
	// so that no lock is held long.
	sqlCleanupDone = `DELETE FROM backie_tasks WHERE id IN (
	SELECT id FROM backie_tasks
	WHERE done_at IS NOT NULL AND error_info IS NULL AND cancelled_at IS NULL
	  AND done_at < now() - $1::bigint * interval '1 millisecond'
	ORDER BY done_at, id
	LIMIT $2)`

	// sqlCleanupFailed is sqlCleanupDone for Failed and Cancelled tasks,
	// through backie_tasks_failed_idx.
	sqlCleanupFailed = `DELETE FROM backie_tasks WHERE id IN (
	SELECT id FROM backie_tasks
	WHERE done_at IS NOT NULL AND (error_info IS NOT NULL OR cancelled_at IS NOT NULL)
	  AND done_at < now() - $1::bigint * interval '1 millisecond'
	ORDER BY done_at, id
	LIMIT $2)`

	// sqlCleanupThroughput deletes throughput older than a day.
	sqlCleanupThroughput = `DELETE FROM backie_throughput WHERE minute < now() - interval '1 day'`

	// sqlCount counts every task by name, type and state, with the oldest
	// scheduled_at of each group. It reads the whole table, so the leader
	// runs it every few seconds at most (see maintenance), and replaces its
	// last count with the result (sqlClearCounts, in the same transaction);
	// Stats reads it.
	sqlCount = `INSERT INTO backie_counts (task_name, task_type, state, n, oldest, counted_at)
` + sqlCountSelect
	// sqlCountSelect is the count itself: what Stats runs, without storing
	// it, when no pool has counted lately.
	sqlCountSelect = `SELECT task_name, task_type,
       CASE WHEN done_at IS NOT NULL AND cancelled_at IS NOT NULL THEN 'cancelled'
            WHEN done_at IS NOT NULL AND error_info IS NOT NULL THEN 'failed'
            WHEN done_at IS NOT NULL THEN 'done'
            WHEN running_at IS NOT NULL THEN 'running'
            WHEN scheduled_at > now() THEN 'scheduled'
            ELSE 'ready' END,
       count(*), min(scheduled_at), now()
FROM backie_tasks
GROUP BY 1, 2, 3`
	sqlClearCounts = `DELETE FROM backie_counts`

	// sqlCounts reads the leader's last count.
	sqlCounts = `SELECT task_name, task_type, state, n, oldest, counted_at FROM backie_counts`

	// sqlLag returns, for each type of $1, how long its oldest Ready task
	// has been due: one short scan of backie_tasks_type_claim_idx per type
	// and priority, stepping over the Running tasks at its head.
	sqlLag = `SELECT ty.task_type, extract(epoch FROM now() - min(o.scheduled_at))::float8
FROM unnest($1::text[]) AS ty(task_type)
CROSS JOIN unnest($2::smallint[]) AS lv(priority)
CROSS JOIN LATERAL (
	SELECT scheduled_at FROM backie_tasks
	WHERE ` + notDoneByType + ` AND task_type = ty.task_type AND priority = lv.priority
	  AND running_at IS NULL AND scheduled_at <= now()
	ORDER BY scheduled_at, id
	LIMIT 1
) AS o
GROUP BY ty.task_type`

	// sqlThroughput returns the finished attempts per minute of the last
	// hour.
	sqlThroughput = `SELECT minute, sum(done)::bigint, sum(failed)::bigint, sum(retried)::bigint
FROM backie_throughput
WHERE minute > now() - interval '1 hour'
GROUP BY minute
ORDER BY minute`
)

// --- Control -------------------------------------------------------------

// Each control statement locks the task's row, changes it only if its
// state allows, and returns the row as it is afterwards with whether it
// changed: the caller tells "not found" (no row), "not allowed in this
// state" and "done" apart without a second query, and without racing a
// worker that finishes the task meanwhile.
var (
	// sqlCancelTask: a Ready or Scheduled task becomes Cancelled; a Running
	// one gets cancelled_at, and its pool cancels it (sqlNotifyCancel).
	sqlCancelTask = `WITH target AS (
	SELECT id, done_at IS NULL AS open, running_at IS NOT NULL AS running FROM backie_tasks WHERE id = $1 FOR UPDATE
), changed AS (
	UPDATE backie_tasks AS t
	SET cancelled_at = now(),
	    done_at = CASE WHEN t.running_at IS NULL THEN now() END
	FROM target WHERE t.id = target.id AND target.open AND t.cancelled_at IS NULL
	RETURNING ` + columns("t.") + `
), notified AS (
	SELECT pg_notify(` + sqlChannel + `, 'c' || id::text) FROM changed WHERE running_at IS NOT NULL AND done_at IS NULL
)
SELECT ` + columns("") + `, true, (SELECT count(*) FROM notified) FROM changed
UNION ALL
SELECT ` + columns("t.") + `, false, 0 FROM backie_tasks AS t, target
WHERE t.id = target.id AND NOT EXISTS (SELECT FROM changed)`

	// sqlRetryTask: a Failed, Cancelled, Done or Scheduled task becomes
	// Ready now. retries and max_retries stay: a Failed task out of
	// retries gets one more attempt, and is Failed again if it fails.
	sqlRetryTask = `WITH target AS (
	SELECT id FROM backie_tasks WHERE id = $1 AND running_at IS NULL OR id = $1 AND done_at IS NOT NULL FOR UPDATE
), changed AS (
	UPDATE backie_tasks AS t
	SET done_at = NULL, cancelled_at = NULL, running_at = NULL, scheduled_at = LEAST(t.scheduled_at, now())
	FROM target WHERE t.id = target.id
	RETURNING ` + columns("t.") + `
), notified AS (
	SELECT pg_notify(` + sqlChannel + `, 't0:' || task_type) FROM changed
)
SELECT ` + columns("") + `, true, (SELECT count(*) FROM notified) FROM changed
UNION ALL
SELECT ` + columns("") + `, false, 0 FROM backie_tasks WHERE id = $1 AND NOT EXISTS (SELECT FROM changed)`

	// sqlRescheduleTask: a Ready or Scheduled task becomes due at $2.
	sqlRescheduleTask = `WITH changed AS (
	UPDATE backie_tasks SET scheduled_at = $2
	WHERE id = $1 AND done_at IS NULL AND running_at IS NULL
	RETURNING ` + columns("") + `
), notified AS (
	SELECT pg_notify(` + sqlChannel + `,
	       't' || greatest(ceil(extract(epoch FROM scheduled_at - clock_timestamp()) * 1000), 0)::bigint || ':' || task_type)
	FROM changed
)
SELECT ` + columns("") + `, true, (SELECT count(*) FROM notified) FROM changed
UNION ALL
SELECT ` + columns("") + `, false, 0 FROM backie_tasks WHERE id = $1 AND NOT EXISTS (SELECT FROM changed)`
)

const (
	// sqlPauseType pauses a type and tells the pools ("p<type>").
	sqlPauseType = `WITH paused AS (
	INSERT INTO backie_paused_types (task_type) VALUES ($1) ON CONFLICT (task_type) DO NOTHING RETURNING task_type
)
SELECT pg_notify(` + sqlChannel + `, 'p' || $1) FROM (SELECT 1) AS one`

	// sqlResumeType resumes a type and tells the pools ("r<type>"), which
	// claim its tasks at once.
	sqlResumeType = `WITH resumed AS (
	DELETE FROM backie_paused_types WHERE task_type = $1 RETURNING task_type
)
SELECT pg_notify(` + sqlChannel + `, 'r' || $1) FROM (SELECT 1) AS one`

	sqlPausedTypes = `SELECT task_type, paused_at FROM backie_paused_types ORDER BY task_type`

	// sqlPurge… delete the finished tasks of one state that finished more
	// than $1 milliseconds ago.
	sqlPurgeDone = `DELETE FROM backie_tasks
WHERE done_at IS NOT NULL AND error_info IS NULL AND cancelled_at IS NULL AND done_at < now() - $1::bigint * interval '1 millisecond'`
	sqlPurgeFailed = `DELETE FROM backie_tasks
WHERE done_at IS NOT NULL AND error_info IS NOT NULL AND cancelled_at IS NULL AND done_at < now() - $1::bigint * interval '1 millisecond'`
	sqlPurgeCancelled = `DELETE FROM backie_tasks
WHERE done_at IS NOT NULL AND cancelled_at IS NOT NULL AND done_at < now() - $1::bigint * interval '1 millisecond'`
)

// --- Periodic tasks -----------------------------------------------------

const (
	// sqlPeriodicInit records a periodic task that has no row yet, with
	// last_tick $2 (its latest tick before now: it runs at its next one).
	sqlPeriodicInit = `INSERT INTO backie_periodic (name, last_tick) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`

	// sqlPeriodicTicks returns the last tick of the periodic tasks $1, and
	// the database's time.
	sqlPeriodicTicks = `SELECT name, last_tick, now() FROM backie_periodic WHERE name = ANY($1::text[])`

	// sqlPeriodicAdvance moves a periodic task's last tick forward to $2, if
	// $2 is due by the database's clock and no process enqueued it: the
	// task of tick $2 is enqueued in the same transaction, so each tick is
	// enqueued once, across processes, restarts and clock skew.
	sqlPeriodicAdvance = `UPDATE backie_periodic SET last_tick = $2, updated_at = now()
WHERE name = $1 AND last_tick < $2 AND $2 <= now()`
)

// --- Migrations --------------------------------------------------------

const (
	sqlMigrateLockKey = `SELECT current_database(), current_schema()`
	sqlAdvisoryLock   = `SELECT pg_advisory_lock($1)`
	sqlAdvisoryUnlock = `SELECT pg_advisory_unlock($1)`
	sqlSearchPath     = `SELECT current_setting('search_path')`
)

// sqlCreateSchema creates schema if it does not exist.
func sqlCreateSchema(schema string) string {
	return "CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{schema}.Sanitize()
}

// sqlListen subscribes to channel.
func sqlListen(channel string) string { return "LISTEN " + pgx.Identifier{channel}.Sanitize() }

// --- Listing -------------------------------------------------------------

// The list statements (list.go) are assembled from these parts by state;
// testdata/sql/list_*.sql holds the final text of each kind of list.
//
// Ready, Scheduled and Running tasks are read through the claim indexes,
// one scan per priority (and per type, when the filter names types), each
// cut at the page's size, and the pages of the scans merged: the claim
// indexes lead with the priority. Finished tasks are read through
// backie_tasks_done_idx (Done) and backie_tasks_failed_idx (Failed and
// Cancelled), in the order they finished; any state, through the primary
// key, in the order tasks were created (ids are UUIDv7).
const (
	// listWaiting: %[1]s the per-priority (and per-type) scan's FROM and
	// condition, %[2]s the state's condition and the filters, %[3]s the
	// direction (ASC, DESC).
	listWaiting = `SELECT %[4]s FROM %[1]s
CROSS JOIN LATERAL (
	SELECT * FROM backie_tasks
	WHERE %[5]s%[2]s
	ORDER BY scheduled_at %[3]s, id %[3]s
	LIMIT $1
) AS t
ORDER BY t.scheduled_at %[3]s, t.id %[3]s
LIMIT $1`
	// listFromLevels scans each priority of $2.
	listFromLevels = `unnest($2::smallint[]) AS lv(priority)`
	// listFromTypesAndLevels scans each type of $3 at each priority of $2.
	listFromTypesAndLevels = `unnest($3::text[]) AS ty(task_type)
CROSS JOIN unnest($2::smallint[]) AS lv(priority)`

	listReady     = `running_at IS NULL AND scheduled_at <= now()`
	listScheduled = `running_at IS NULL AND scheduled_at > now()`
	listRunning   = `running_at IS NOT NULL`

	// listFinished: %[1]s the state's condition (the index's predicate and
	// more), %[2]s the filters, %[3]s the direction.
	listFinished = `SELECT %[4]s FROM backie_tasks
WHERE %[1]s%[2]s
ORDER BY done_at %[3]s, id %[3]s
LIMIT $1`
	listDone      = `done_at IS NOT NULL AND error_info IS NULL AND cancelled_at IS NULL`
	listFailed    = `done_at IS NOT NULL AND (error_info IS NOT NULL OR cancelled_at IS NOT NULL) AND cancelled_at IS NULL`
	listCancelled = `done_at IS NOT NULL AND (error_info IS NOT NULL OR cancelled_at IS NOT NULL) AND cancelled_at IS NOT NULL`

	// listAny: every state, in the order of the ids.
	listAny = `SELECT %[3]s FROM backie_tasks
WHERE true%[1]s
ORDER BY id %[2]s
LIMIT $1`
)

// --- Batch inserts by COPY ------------------------------------------------

// copyColumns are the columns CreateTasks copies for a batch of tasks that
// are not unique (see copyInsert); created_at and, without RunAt,
// scheduled_at take their defaults, now().
var (
	copyColumns        = []string{"id", "task_name", "task_type", "priority", "payload", "timeout_msecs", "max_retries", "metadata"}
	copyColumnsSchedAt = append(slices.Clone(copyColumns), "scheduled_at")
)

// sqlCopyNotify returns the transaction's now() (the created_at of the
// copied rows) after it notifies listening pools once per type of $1 with
// the delay until $2 (null: now), as sqlInsert does.
const sqlCopyNotify = `WITH notified AS (
	SELECT pg_notify(` + sqlChannel + `,
	       't' || greatest(ceil(extract(epoch FROM COALESCE($2::timestamptz, now()) - clock_timestamp()) * 1000), 0)::bigint
	       || ':' || typ)
	FROM unnest($1::text[]) AS typ
)
SELECT now(), (SELECT count(*) FROM notified)`
