-- One claim-and-finish cycle of a Backie worker pool, in SQL only: the
-- library's claim (claimSQL in sql.go) for :n tasks, then its finishing
-- DELETE (sqlFinishDelete in sql.go) for the claimed ids. Each
-- statement is its own transaction and commit, as in the library. The plan
-- settings the library sets per transaction (sqlPlanSettings) come from PGOPTIONS.
-- TestPgbenchCycleIsTheLibrarys (bench_sql_test.go) checks that these are
-- the library's statements, with literals for its parameters.
WITH c AS (
	UPDATE backie_tasks AS t
	SET running_at = now(), attempt = t.attempt + 1, timeout_msecs = COALESCE(NULL::bigint, t.timeout_msecs),
	    process_id = '00000000-0000-7000-8000-000000000000'::uuid
	FROM (
		SELECT c.id FROM unnest('{1,2,3,4}'::smallint[], '{-infinity,-infinity,-infinity,-infinity}'::timestamptz[], '{00000000-0000-0000-0000-000000000000,00000000-0000-0000-0000-000000000000,00000000-0000-0000-0000-000000000000,00000000-0000-0000-0000-000000000000}'::uuid[]) AS lv(priority, after_at, after_id)
		CROSS JOIN LATERAL (
			SELECT id FROM backie_tasks
			WHERE done_at IS NULL AND (NULL::text[] IS NULL OR task_type = ANY(NULL::text[])) AND priority = lv.priority
			  AND scheduled_at <= now() AND (scheduled_at, id) > (lv.after_at, lv.after_id)
			  AND running_at IS NULL AND task_name = ANY('{noop}'::text[])
			  AND task_type <> ALL (ARRAY(SELECT task_type FROM backie_paused_types))
			ORDER BY scheduled_at, id
			LIMIT :n
			FOR UPDATE SKIP LOCKED
		) AS c
		LIMIT :n
	) AS c
	WHERE t.id = c.id
	RETURNING t.id, t.task_name, t.task_type, t.uniq_hash, t.priority, t.payload, t.timeout_msecs, t.created_at, t.scheduled_at, t.running_at, t.done_at, t.cancelled_at, t.error_info, t.retries, t.max_retries, t.attempt, t.process_id, t.metadata
)
SELECT coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(attempt), '{}') AS attempts FROM c
\gset
DELETE FROM backie_tasks AS t
USING unnest(:ids::uuid[], :attempts::int[]) AS f(id, attempt)
WHERE t.id = f.id AND t.attempt = f.attempt AND t.running_at IS NOT NULL AND num_nonnulls(done_at) = 0;
