SELECT t.id, t.task_name, t.task_type, t.uniq_hash, t.priority, t.payload, t.timeout_msecs, t.created_at, t.scheduled_at, t.running_at, t.done_at, t.cancelled_at, t.error_info, t.retries, t.max_retries, t.attempt, t.process_id, t.metadata FROM unnest($2::smallint[]) AS lv(priority)
CROSS JOIN LATERAL (
	SELECT * FROM backie_tasks
	WHERE done_at IS NULL AND priority = lv.priority
	  AND running_at IS NOT NULL
	  AND task_name = ANY($3::text[])
	ORDER BY scheduled_at DESC, id DESC
	LIMIT $1
) AS t
ORDER BY t.scheduled_at DESC, t.id DESC
LIMIT $1
