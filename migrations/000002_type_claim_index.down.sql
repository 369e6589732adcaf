DROP INDEX IF EXISTS backie_tasks_type_claim_idx;
