DROP TABLE IF EXISTS backie_counts;
DROP TABLE IF EXISTS backie_throughput;
ALTER TABLE backie_processes
    DROP COLUMN IF EXISTS running,
    DROP COLUMN IF EXISTS heartbeat_timeout_ms;
DROP TABLE IF EXISTS backie_periodic;
DROP TABLE IF EXISTS backie_paused_types;
DROP INDEX IF EXISTS backie_tasks_failed_idx;
DROP INDEX IF EXISTS backie_tasks_done_idx;
DROP INDEX IF EXISTS backie_tasks_type_claim_idx;
CREATE INDEX IF NOT EXISTS backie_tasks_type_claim_idx
    ON backie_tasks (task_type, scheduled_at, id)
    WHERE num_nulls(done_at) = 1;
DROP INDEX IF EXISTS backie_tasks_claim_idx;
CREATE INDEX IF NOT EXISTS backie_tasks_claim_idx
    ON backie_tasks (scheduled_at, id)
    WHERE done_at IS NULL;
-- Cancelled tasks become Done or Failed tasks: version 3 has no cancel.
ALTER TABLE backie_tasks
    DROP CONSTRAINT IF EXISTS backie_tasks_priority_range,
    DROP COLUMN IF EXISTS process_id,
    DROP COLUMN IF EXISTS cancelled_at,
    DROP COLUMN IF EXISTS priority;
