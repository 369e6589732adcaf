UPDATE backie_tasks AS t
SET running_at = now(), attempt = t.attempt + 1, timeout_msecs = COALESCE($4::bigint, t.timeout_msecs)
FROM (
	SELECT c.id FROM unnest($2::text[]) AS ty(task_type)
	CROSS JOIN LATERAL (
		SELECT id, scheduled_at FROM backie_tasks
		WHERE num_nulls(done_at) = 1 AND task_type = ty.task_type
		  AND running_at IS NULL AND scheduled_at <= now()
		  AND task_name = ANY($1::text[])
		ORDER BY scheduled_at, id
		LIMIT $3
		FOR UPDATE SKIP LOCKED
	) AS c
	ORDER BY c.scheduled_at, c.id
	LIMIT $3
) AS c
WHERE t.id = c.id
RETURNING t.id, t.task_name, t.task_type, t.uniq_hash, t.payload, t.timeout_msecs, t.created_at, t.scheduled_at, t.running_at, t.done_at, t.error_info, t.retries, t.max_retries, t.attempt
