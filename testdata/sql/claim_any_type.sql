UPDATE backie_tasks AS t
SET running_at = now(), attempt = t.attempt + 1, timeout_msecs = COALESCE($4::bigint, t.timeout_msecs),
    process_id = $5::uuid
FROM (
	SELECT c.id FROM unnest($6::smallint[], $7::timestamptz[], $8::uuid[]) AS lv(priority, after_at, after_id)
	CROSS JOIN LATERAL (
		SELECT id FROM backie_tasks
		WHERE done_at IS NULL AND ($2::text[] IS NULL OR task_type = ANY($2::text[])) AND priority = lv.priority
		  AND scheduled_at <= now() AND (scheduled_at, id) > (lv.after_at, lv.after_id)
		  AND running_at IS NULL AND task_name = ANY($1::text[])
		  AND task_type <> ALL (ARRAY(SELECT task_type FROM backie_paused_types))
		ORDER BY scheduled_at, id
		LIMIT $3
		FOR UPDATE SKIP LOCKED
	) AS c
	LIMIT $3
) AS c
WHERE t.id = c.id
RETURNING t.id, t.task_name, t.task_type, t.uniq_hash, t.priority, t.payload, t.timeout_msecs, t.created_at, t.scheduled_at, t.running_at, t.done_at, t.cancelled_at, t.error_info, t.retries, t.max_retries, t.attempt, t.process_id, t.metadata
