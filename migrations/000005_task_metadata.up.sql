-- Metadata travels with a task from its enqueue to its attempts: enqueue
-- middleware writes it (a W3C trace context, a tenant id), run middleware
-- reads it. A JSON object of strings; NULL when there is none. No index
-- covers it.
ALTER TABLE backie_tasks ADD COLUMN IF NOT EXISTS metadata jsonb;
