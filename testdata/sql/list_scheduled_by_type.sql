SELECT t.id, t.task_name, t.task_type, t.uniq_hash, t.priority, t.payload, t.timeout_msecs, t.created_at, t.scheduled_at, t.running_at, t.done_at, t.cancelled_at, t.error_info, t.retries, t.max_retries, t.attempt, t.process_id, t.metadata FROM unnest($3::text[]) AS ty(task_type)
CROSS JOIN unnest($2::smallint[]) AS lv(priority)
CROSS JOIN LATERAL (
	SELECT * FROM backie_tasks
	WHERE num_nulls(done_at) = 1 AND task_type = ty.task_type AND priority = lv.priority
	  AND running_at IS NULL AND scheduled_at > now()
	ORDER BY scheduled_at ASC, id ASC
	LIMIT $1
) AS t
ORDER BY t.scheduled_at ASC, t.id ASC
LIMIT $1
