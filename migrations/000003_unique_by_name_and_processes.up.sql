-- Unique tasks are unique among the tasks of their name: two task types
-- whose payloads hash alike (HashOf of equal JSON) no longer block each
-- other. CreateTask inserts with ON CONFLICT on this index.
CREATE UNIQUE INDEX IF NOT EXISTS backie_tasks_uniq_idx
    ON backie_tasks (task_name, uniq_hash)
    WHERE uniq_hash IS NOT NULL AND done_at IS NULL;
DROP INDEX IF EXISTS backie_tasks_uniq_hash_idx;

-- backie_processes has an entry per running worker pool, renewed by its
-- heartbeat; an entry older than the pools' HeartbeatTimeout belongs to a
-- pool that is gone, and is removed by the leader. task_types NULL means
-- every type.
CREATE TABLE IF NOT EXISTS backie_processes (
    id           uuid        PRIMARY KEY,
    host         text        NOT NULL,
    pid          integer     NOT NULL,
    task_names   text[]      NOT NULL,
    task_types   text[],
    workers      integer     NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- backie_leader holds who leads: one row per leadership, taken over by
-- another process once expires_at has passed.
CREATE TABLE IF NOT EXISTS backie_leader (
    name       text        PRIMARY KEY,
    process_id uuid        NOT NULL,
    elected_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
