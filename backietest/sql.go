package backietest

// Every statement the kit sends. The kit reads tasks through the library
// (ListTasks, FindTaskTx) and knows of backie_tasks only the columns it
// needs to find their ids in a transaction, which has no ListTasks.

const (
	// sqlTaskIDsOfName lists the ids of the tasks of a name, oldest first
	// (ids are UUIDv7: they sort by creation).
	sqlTaskIDsOfName = `SELECT id FROM backie_tasks WHERE task_name = $1 ORDER BY id`

	// sqlRecentTaskIDs lists the ids of the $1 newest tasks, newest first.
	sqlRecentTaskIDs = `SELECT id FROM backie_tasks ORDER BY id DESC LIMIT $1`

	// sqlNow is the database's clock, which Drain compares with its Now.
	sqlNow = `SELECT now()`
)

// sqlCreateSchema and sqlDropSchema make and remove a test's schema; the
// name is quoted with pgx.Identifier.
const (
	sqlCreateSchema = `CREATE SCHEMA %s`
	sqlDropSchema   = `DROP SCHEMA %s CASCADE`
)
