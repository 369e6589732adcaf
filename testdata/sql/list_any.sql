SELECT id, task_name, task_type, uniq_hash, priority, payload, timeout_msecs, created_at, scheduled_at, running_at, done_at, cancelled_at, error_info, retries, max_retries, attempt, process_id, metadata FROM backie_tasks
WHERE true
ORDER BY id DESC
LIMIT $1
