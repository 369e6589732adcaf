-- backie_tasks holds every task: its JSON payload, its schedule and the
-- columns its state is derived from (see README "Task states").
CREATE TABLE IF NOT EXISTS backie_tasks (
    id            uuid        PRIMARY KEY,
    task_name     text        NOT NULL,
    task_type     text        NOT NULL DEFAULT 'common',
    uniq_hash     text,
    payload       jsonb       NOT NULL,
    timeout_msecs bigint      NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    scheduled_at  timestamptz NOT NULL DEFAULT now(),
    running_at    timestamptz,
    done_at       timestamptz,
    error_info    jsonb,
    retries       integer     NOT NULL DEFAULT 0,
    max_retries   integer     NOT NULL DEFAULT 20,
    -- attempt counts claims; finishing writes match on it so that only the
    -- attempt that owns a task can finish it.
    attempt       integer     NOT NULL DEFAULT 0,
    CONSTRAINT backie_tasks_uniq_hash_length CHECK (length(uniq_hash) BETWEEN 1 AND 128),
    CONSTRAINT backie_tasks_timeout_positive CHECK (timeout_msecs > 0),
    CONSTRAINT backie_tasks_retries_nonnegative CHECK (retries >= 0 AND max_retries >= 0)
)
-- Claiming a task changes only columns that no index covers (running_at,
-- attempt, timeout_msecs), so Postgres can do it as a HOT update, in place,
-- without touching any index, if the page has room: keep half of each page
-- free for the new row versions.
WITH (fillfactor = 50);

-- The claim query: Ready tasks, oldest scheduled_at first, FIFO among equals
-- (ids are UUIDv7, so they sort by creation time). The predicate leaves
-- running_at out on purpose (see fillfactor above): the few Running tasks
-- are filtered from the heap. The rescuer uses this index too: a task
-- Running for longer than its timeout plus a margin was scheduled before
-- now() minus that margin.
CREATE INDEX IF NOT EXISTS backie_tasks_claim_idx
    ON backie_tasks (scheduled_at, id)
    WHERE done_at IS NULL;

-- Unique tasks: at most one unfinished task per hash. CreateTask inserts with
-- ON CONFLICT on this index, so concurrent inserters cannot race.
CREATE UNIQUE INDEX IF NOT EXISTS backie_tasks_uniq_hash_idx
    ON backie_tasks (uniq_hash)
    WHERE uniq_hash IS NOT NULL AND done_at IS NULL;

