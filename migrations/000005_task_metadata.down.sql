ALTER TABLE backie_tasks DROP COLUMN IF EXISTS metadata;
