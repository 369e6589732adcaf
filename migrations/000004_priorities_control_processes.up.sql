-- Parts 5 and 6: priorities, cancellation, paused types, periodic tasks,
-- which pool holds a task, and what the leader keeps for Stats.
--
-- Building the new claim indexes blocks inserts into backie_tasks until
-- they are built (seconds on millions of rows).

ALTER TABLE backie_tasks
    -- 1 is claimed first, 4 last (see backie.PriorityDefault).
    ADD COLUMN IF NOT EXISTS priority smallint NOT NULL DEFAULT 2,
    -- Set by CancelTask: with done_at, the task is Cancelled; without, it
    -- is Running and its pool is told to cancel it.
    ADD COLUMN IF NOT EXISTS cancelled_at timestamptz,
    -- The pool (backie_processes.id) that claimed the task. Claims set it
    -- and no index covers it, so claims stay HOT updates.
    ADD COLUMN IF NOT EXISTS process_id uuid;
-- NOT VALID: existing rows hold the default; no scan under the lock.
ALTER TABLE backie_tasks DROP CONSTRAINT IF EXISTS backie_tasks_priority_range,
    ADD CONSTRAINT backie_tasks_priority_range CHECK (priority BETWEEN 1 AND 4) NOT VALID;

-- The claim indexes lead with the priority: a claim scans each priority's
-- due tasks, highest first, oldest scheduled_at first within it, so a
-- backlog of another priority, or tasks scheduled for later, are never
-- stepped over. Claims change no indexed column (running_at, attempt,
-- timeout_msecs, process_id), so they stay HOT updates.
DROP INDEX IF EXISTS backie_tasks_claim_idx;
CREATE INDEX IF NOT EXISTS backie_tasks_claim_idx
    ON backie_tasks (priority, scheduled_at, id)
    WHERE done_at IS NULL;
-- "done_at IS NULL" spelled num_nulls(done_at) = 1: see migration 2.
DROP INDEX IF EXISTS backie_tasks_type_claim_idx;
CREATE INDEX IF NOT EXISTS backie_tasks_type_claim_idx
    ON backie_tasks (task_type, priority, scheduled_at, id)
    WHERE num_nulls(done_at) = 1;

-- Finished tasks in the order they finished: the leader's age-based cleanup
-- and the lists of done, failed and cancelled tasks. Done tasks apart, so
-- that the few failures are not looked for among many successes.
CREATE INDEX IF NOT EXISTS backie_tasks_done_idx
    ON backie_tasks (done_at, id)
    WHERE done_at IS NOT NULL AND error_info IS NULL AND cancelled_at IS NULL;
CREATE INDEX IF NOT EXISTS backie_tasks_failed_idx
    ON backie_tasks (done_at, id)
    WHERE done_at IS NOT NULL AND (error_info IS NOT NULL OR cancelled_at IS NOT NULL);

-- Task types whose tasks no pool claims until they are resumed.
CREATE TABLE IF NOT EXISTS backie_paused_types (
    task_type text        PRIMARY KEY,
    paused_at timestamptz NOT NULL DEFAULT now()
);

-- One row per periodic task: the last tick a task was enqueued for. A pool
-- enqueues tick T only if it moves last_tick forward to T, in the same
-- transaction, so each tick is enqueued once across every process.
CREATE TABLE IF NOT EXISTS backie_periodic (
    name       text        PRIMARY KEY,
    last_tick  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- What a pool tells with its heartbeat: how many tasks it runs now.
ALTER TABLE backie_processes
    ADD COLUMN IF NOT EXISTS running integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS heartbeat_timeout_ms bigint NOT NULL DEFAULT 10000;

-- Finished attempts per minute and pool, added by each pool at its
-- heartbeat; Stats reads the last hour, the leader removes older rows.
CREATE TABLE IF NOT EXISTS backie_throughput (
    minute     timestamptz NOT NULL,
    process_id uuid        NOT NULL,
    done       bigint      NOT NULL DEFAULT 0,
    failed     bigint      NOT NULL DEFAULT 0,
    retried    bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, process_id)
);

-- The leader's count of tasks by name, type and state, which Stats reads:
-- counting a large table on every call would be slow.
CREATE TABLE IF NOT EXISTS backie_counts (
    task_name  text        NOT NULL,
    task_type  text        NOT NULL,
    state      text        NOT NULL,
    n          bigint      NOT NULL,
    oldest     timestamptz,
    counted_at timestamptz NOT NULL,
    PRIMARY KEY (task_name, task_type, state)
);
