-- One claim-and-finish cycle of a Backie worker pool, in SQL only: the
-- library's claim (claimSQL in sql.go) for :n tasks, then its finishing
-- DELETE (sqlFinishDelete in sql.go) for the claimed ids. Each
-- statement is its own transaction and commit, as in the library. The plan
-- settings the library sets per transaction (sqlPlanSettings) come from PGOPTIONS.
-- TestPgbenchCycleIsTheLibrarys (bench_sql_test.go) checks that these are
-- the library's statements, with literals for its parameters.
WITH c AS (
	UPDATE backie_tasks AS t
	SET running_at = now(), attempt = t.attempt + 1, timeout_msecs = COALESCE(NULL::bigint, t.timeout_msecs)
	FROM (
		SELECT id FROM backie_tasks
		WHERE done_at IS NULL AND (NULL::text[] IS NULL OR task_type = ANY(NULL::text[]))
		  AND running_at IS NULL AND scheduled_at <= now()
		  AND task_name = ANY('{noop}'::text[])
		ORDER BY scheduled_at, id
		LIMIT :n
		FOR UPDATE SKIP LOCKED
	) AS c
	WHERE t.id = c.id
	RETURNING t.id, t.task_name, t.task_type, t.uniq_hash, t.payload, t.timeout_msecs, t.created_at,
		t.scheduled_at, t.running_at, t.done_at, t.error_info, t.retries, t.max_retries, t.attempt
)
SELECT coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(attempt), '{}') AS attempts FROM c
\gset
DELETE FROM backie_tasks AS t
USING unnest(:ids::uuid[], :attempts::int[]) AS f(id, attempt)
WHERE t.id = f.id AND t.attempt = f.attempt AND t.running_at IS NOT NULL AND num_nonnulls(done_at) = 0;
