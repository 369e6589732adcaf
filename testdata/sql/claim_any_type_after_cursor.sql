UPDATE backie_tasks AS t
SET running_at = now(), attempt = t.attempt + 1, timeout_msecs = COALESCE($4::bigint, t.timeout_msecs)
FROM (
	SELECT id FROM backie_tasks
	WHERE done_at IS NULL AND ($2::text[] IS NULL OR task_type = ANY($2::text[]))
	  AND running_at IS NULL AND scheduled_at <= now()
	  AND task_name = ANY($1::text[])
	  AND (scheduled_at, id) > ($5::timestamptz, $6::uuid)
	ORDER BY scheduled_at, id
	LIMIT $3
	FOR UPDATE SKIP LOCKED
) AS c
WHERE t.id = c.id
RETURNING t.id, t.task_name, t.task_type, t.uniq_hash, t.payload, t.timeout_msecs, t.created_at, t.scheduled_at, t.running_at, t.done_at, t.error_info, t.retries, t.max_retries, t.attempt
