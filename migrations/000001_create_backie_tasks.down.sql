DROP TABLE IF EXISTS backie_tasks;
