package backie

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

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
	"id", "task_name", "task_type", "uniq_hash", "payload", "timeout_msecs", "created_at",
	"scheduled_at", "running_at", "done_at", "error_info", "retries", "max_retries", "attempt",
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
func scanRecord(row pgx.Row) (*TaskRecord, error) {
	var (
		r         TaskRecord
		name, typ string
		hash      *string
		timeoutMS int64
		errInfo   []byte
	)
	err := row.Scan((*[16]byte)(&r.ID), &name, &typ, &hash, &r.Payload, &timeoutMS, &r.CreatedAt,
		&r.ScheduledAt, &r.RunningAt, &r.DoneAt, &errInfo, &r.Retries, &r.MaxRetries, &r.Attempt)
	if err != nil {
		return nil, err
	}
	r.Name, r.Type, r.Timeout = name, TaskType(typ), time.Duration(timeoutMS)*time.Millisecond
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
// once per task type, with the delay until the type's earliest new task is
// due: "t<milliseconds>:<type>" (see notification); in a transaction the
// notification is delivered at commit.
const sqlInsert = `WITH ins AS (
	INSERT INTO backie_tasks (id, task_name, task_type, uniq_hash, payload, timeout_msecs, max_retries, scheduled_at)
	SELECT t.id, t.name, t.typ, t.hash, t.payload, t.tmo, t.mr,
	       COALESCE(t.run_at, now() + t.delay_ms * interval '1 millisecond')
	FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::bigint[], $7::int[],
	            $8::timestamptz[], $9::bigint[])
	     AS t(id, name, typ, hash, payload, tmo, mr, run_at, delay_ms)
	ORDER BY t.name, t.hash
	ON CONFLICT (task_name, uniq_hash) WHERE uniq_hash IS NOT NULL AND done_at IS NULL DO NOTHING
	RETURNING id, task_type, created_at, scheduled_at
), notified AS (
	SELECT pg_notify(` + sqlChannel + `,
	       't' || greatest(ceil(extract(epoch FROM first - clock_timestamp()) * 1000), 0)::bigint || ':' || typ)
	FROM (SELECT task_type AS typ, min(scheduled_at) AS first FROM ins GROUP BY task_type) AS due
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
// attempt from a later one. Parameters: $1 the pool's task names, $2 its
// task types (null: every type), $3 how many, $4 the pool's TaskTimeout in
// milliseconds (null: each task's own), and with a cursor $5 and $6, the
// (scheduled_at, id) of the last task the pool claimed.
const claimUpdate = `UPDATE backie_tasks AS t
SET running_at = now(), attempt = t.attempt + 1, timeout_msecs = COALESCE($4::bigint, t.timeout_msecs)
FROM (
%s
) AS c
WHERE t.id = c.id
RETURNING %s`

// claimScan locks up to $3 Ready tasks in claim order, oldest scheduled_at
// first: %[1]s is the select list, %[2]s the unfinished-and-type condition,
// %[3]s the cursor condition (or nothing).
const claimScan = `	SELECT %[1]s FROM backie_tasks
	WHERE %[2]s
	  AND running_at IS NULL AND scheduled_at <= now()
	  AND task_name = ANY($1::text[])%[3]s
	ORDER BY scheduled_at, id
	LIMIT $3
	FOR UPDATE SKIP LOCKED`

// claimEachType is the claim of a pool that serves a few task types ($2,
// without duplicates). One index scan cannot return several types' tasks
// in claim order, so each type is read through backie_tasks_type_claim_idx
// on its own (%s, a claimScan), and the oldest $3 of what those scans lock
// are claimed. Each scan must lock up to $3 tasks, since the oldest $3 due
// tasks may all be of one type; the locks on tasks not claimed end with
// the statement's transaction, a few milliseconds later. Such a claim took
// every worker it had, so this pool claims again as soon as a worker is
// free; another pool whose claim skipped those tasks while they were
// locked finds them at its next claim, wake-up or poll. Walking
// backie_tasks_claim_idx and filtering types in the heap instead would
// step over every due task of the types the pool does not serve, on every
// claim that starts from the head of the queue.
const claimEachType = `	SELECT c.id FROM unnest($2::text[]) AS ty(task_type)
	CROSS JOIN LATERAL (
	%s
	) AS c
	ORDER BY c.scheduled_at, c.id
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
	// claimAfterCursor starts the scan after the last task the pool
	// claimed. Claimed tasks leave dead entries at the head of the claim
	// index until VACUUM runs; under a backlog a scan from the start would
	// step over all of them on every claim.
	claimAfterCursor = `
	  AND (scheduled_at, id) > ($5::timestamptz, $6::uuid)`
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

// claimSQL holds the claim statements, [shape][with cursor].
var claimSQL = func() (s [3][2]string) {
	for _, cursor := range []int{0, 1} {
		after := ""
		if cursor == 1 {
			after = claimAfterCursor
		}
		s[claimShapeAnyType][cursor] = fmt.Sprintf(claimUpdate, fmt.Sprintf(claimScan, "id", claimAnyType, after), columns("t."))
		s[claimShapeOneType][cursor] = fmt.Sprintf(claimUpdate, fmt.Sprintf(claimScan, "id", claimOneType, after), columns("t."))
		scan := strings.ReplaceAll(fmt.Sprintf(claimScan, "id, scheduled_at", claimTypeOfRow, after), "\n", "\n\t")
		s[claimShapeEachType][cursor] = fmt.Sprintf(claimUpdate, fmt.Sprintf(claimEachType, scan), columns("t."))
	}
	return s
}()

// sqlNextDue returns how many seconds from now the pool's next task is
// due (null when none is), among the tasks that were not due yet for the
// claim that ran at $4 and are due within $3 milliseconds: a pool that
// drained what was due sleeps until then rather than until its next poll.
// A task that became due since the claim gives a negative delay. The
// window bounds the scan, which walks the claim index and filters names
// and types in the heap.
const sqlNextDue = `SELECT extract(epoch FROM min(scheduled_at) - clock_timestamp())::float8
FROM (
	SELECT scheduled_at FROM backie_tasks
	WHERE ` + notDone + ` AND running_at IS NULL
	  AND scheduled_at > $4::timestamptz AND scheduled_at <= now() + $3::bigint * interval '1 millisecond'
	  AND task_name = ANY($1::text[]) AND ($2::text[] IS NULL OR task_type = ANY($2::text[]))
	ORDER BY scheduled_at
	LIMIT 1
) AS next`

// --- Finishing ---------------------------------------------------------

// The finishing writes match on (id, attempt) with the task still Running
// and unfinished, so only the attempt that owns a task can finish it: a
// task removed, rescued or claimed again in the meantime is left alone, and
// replaying a write after a lost connection changes nothing. They find
// each task by its id (notDoneByID).
//
// sqlFinishUpdate applies a rowChange per task; see rowChange for what
// each column means.
const (
	sqlFinishDelete = `DELETE FROM backie_tasks AS t
USING unnest($1::uuid[], $2::int[]) AS f(id, attempt)
WHERE t.id = f.id AND t.attempt = f.attempt AND t.running_at IS NOT NULL AND ` + notDoneByID

	sqlFinishUpdate = `UPDATE backie_tasks AS t SET
	running_at   = CASE WHEN f.finish THEN t.running_at END,
	done_at      = CASE WHEN f.finish THEN now() END,
	error_info   = CASE WHEN f.keep_error THEN t.error_info ELSE f.error_info END,
	retries      = t.retries + f.add_retries,
	scheduled_at = COALESCE(now() + f.delay_ms * interval '1 millisecond', t.scheduled_at)
FROM unnest($1::uuid[], $2::int[], $3::bool[], $4::bool[], $5::jsonb[], $6::int[], $7::bigint[])
	AS f(id, attempt, finish, keep_error, error_info, add_retries, delay_ms)
WHERE t.id = f.id AND t.attempt = f.attempt AND t.running_at IS NOT NULL AND ` + notDoneByID
)

// --- Rescuing ----------------------------------------------------------

// sqlRescue finds tasks of the pool's names ($1) and types ($2) that have
// been Running longer than their timeout plus the margin ($3 ms): their
// worker died (process killed, machine lost) or their Run ignores its
// context. A Running task was scheduled before it was claimed, so the
// scheduled_at bound (implied by the running_at one) lets the claim index
// limit the scan to tasks due for longer than the margin.
var sqlRescue = `SELECT ` + columns("") + `
FROM backie_tasks
WHERE ` + notDone + ` AND running_at IS NOT NULL
  AND scheduled_at < now() - $3::bigint * interval '1 millisecond'
  AND running_at < now() - (timeout_msecs + $3::bigint) * interval '1 millisecond'
  AND task_name = ANY($1::text[])
  AND ($2::text[] IS NULL OR task_type = ANY($2::text[]))
ORDER BY running_at
LIMIT $4`

// --- Live processes and the leader ------------------------------------

const (
	// sqlRegisterProcess records a running pool, or renews the record of
	// one that was declared dead.
	sqlRegisterProcess = `INSERT INTO backie_processes (id, host, pid, task_names, task_types, workers)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`

	// sqlHeartbeat renews a pool's record; no row means it was declared
	// dead and removed, and must register again.
	sqlHeartbeat = `UPDATE backie_processes SET heartbeat_at = now() WHERE id = $1`

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

	// sqlPruneProcesses removes the records of pools whose last heartbeat
	// is older than $1 milliseconds.
	sqlPruneProcesses = `DELETE FROM backie_processes
WHERE heartbeat_at < now() - $1::bigint * interval '1 millisecond'
RETURNING id, host, pid`

	// sqlUnserved returns the task names and types that have tasks due for
	// longer than $1 milliseconds and that no live pool serves (a pool
	// whose heartbeat is younger than $3 milliseconds). It looks at the
	// oldest $2 such tasks only, so that a large backlog costs a bounded
	// scan: tasks nobody serves are never claimed, so they stay among the
	// oldest.
	sqlUnserved = `SELECT d.task_name, d.task_type, d.n, extract(epoch FROM now() - d.oldest)::float8
FROM (
	SELECT task_name, task_type, count(*) AS n, min(scheduled_at) AS oldest
	FROM (
		SELECT task_name, task_type, scheduled_at FROM backie_tasks
		WHERE ` + notDone + ` AND running_at IS NULL
		  AND scheduled_at < now() - $1::bigint * interval '1 millisecond'
		ORDER BY scheduled_at
		LIMIT $2
	) AS due
	GROUP BY task_name, task_type
) AS d
WHERE NOT EXISTS (
	SELECT 1 FROM backie_processes AS p
	WHERE p.heartbeat_at > now() - $3::bigint * interval '1 millisecond'
	  AND d.task_name = ANY(p.task_names)
	  AND (p.task_types IS NULL OR d.task_type = ANY(p.task_types))
)
ORDER BY d.task_name, d.task_type`
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
