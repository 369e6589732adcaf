SELECT id, task_name, task_type, uniq_hash, priority, payload, timeout_msecs, created_at, scheduled_at, running_at, done_at, cancelled_at, error_info, retries, max_retries, attempt, process_id, metadata FROM backie_tasks
WHERE true
  AND task_name = ANY($2::text[])
  AND id >= $3::uuid
  AND id < $4::uuid
  AND task_type = ANY($5::text[])
  AND priority = ANY($6::smallint[])
ORDER BY id ASC
LIMIT $1
