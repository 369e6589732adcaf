DROP TABLE IF EXISTS backie_leader;
DROP TABLE IF EXISTS backie_processes;
-- Unique by hash alone again. This fails with a unique violation while two
-- unfinished tasks of different names share a hash (allowed since version
-- 3): finish or remove one of them first.
CREATE UNIQUE INDEX IF NOT EXISTS backie_tasks_uniq_hash_idx
    ON backie_tasks (uniq_hash)
    WHERE uniq_hash IS NOT NULL AND done_at IS NULL;
DROP INDEX IF EXISTS backie_tasks_uniq_idx;
