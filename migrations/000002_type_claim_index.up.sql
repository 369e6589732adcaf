-- Pools that serve a single task type claim through this index. Through
-- backie_tasks_claim_idx they would step over every due task of the other
-- types on each claim that starts from the head of the queue (300,000 due
-- tasks of another type: 167 ms per claim). Claims still change no indexed
-- column, so they stay HOT updates.
--
-- The predicate says "done_at IS NULL" as num_nulls(done_at) = 1 on purpose:
-- the claims run on generic plans (see planSQL in claimer.go), and an index
-- is only considered for a statement whose WHERE clause implies its
-- predicate. Only the one-type claim says num_nulls(done_at) = 1, so only it
-- can use this index, and it cannot use backie_tasks_claim_idx (which needs
-- "done_at IS NULL"): its plan is right whatever the statistics were when it
-- was made.
--
-- Building the index on a large table blocks inserts into backie_tasks
-- until it is built.
CREATE INDEX IF NOT EXISTS backie_tasks_type_claim_idx
    ON backie_tasks (task_type, scheduled_at, id)
    WHERE num_nulls(done_at) = 1;
