// Package backie runs background tasks stored in PostgreSQL.
//
// Backie is a Go port of the Rust crate backie (a fork of fang). Tasks are
// Go values stored as JSON in one table, backie_tasks, and run by worker
// pools that claim them with SELECT … FOR UPDATE SKIP LOCKED, so many
// pools in many processes share the table safely. It works on the caller's
// pgx v5 pool (*pgxpool.Pool), which it never creates or closes.
//
// # Tasks
//
// A task is a type that implements [Task]. Embed [TaskDefaults] and write
// Run; the exported fields are the payload:
//
//	type SendEmail struct {
//		backie.TaskDefaults
//		To string `json:"to"`
//	}
//
//	func (t *SendEmail) Run(ctx context.Context, q backie.Queue) error {
//		rec, _ := backie.RecordFromContext(ctx) // id, retries, created_at...
//		return send(ctx, t.To, rec.ID)
//	}
//
// Run gets the [Queue], to enqueue follow-up tasks, and a context that is
// cancelled when the task's timeout expires or when the pool is hard
// stopped. [RecordFromContext] returns the running task's [TaskRecord].
// Override TaskType, Uniq, MaxRetries, Backoff or Timeout to change their
// defaults: [TaskTypeDefault], not unique, [MaxRetriesDefault] (20),
// [ExponentialBackoff] (2^retries seconds) and [TaskTimeoutDefault]
// (2 minutes).
//
// # Registering
//
// A [Registry] maps names to Go types. The name is stored with each task
// and is what must stay stable across deploys:
//
//	reg := backie.NewRegistry()
//	err := backie.Register[*SendEmail](reg, "send_email")
//
// Registering a name or a Go type twice returns an error wrapping
// [ErrTaskAlreadyRegistered]. Enqueueing a Go type that is not registered
// returns an error wrapping [ErrTaskNotRegistered]. A pool only claims the
// names registered in its queue's registry.
//
// # Enqueueing
//
// [NewPgQueue] combines the caller's pool and the registry into a [PgQueue]:
//
//	queue := backie.NewPgQueue(db, reg)
//	rec, err := queue.CreateTask(ctx, &SendEmail{To: "a@b.c"})
//
// [PgQueue.CreateTasks] stores many tasks in one round trip. The …Tx twins
// ([PgQueue.CreateTaskTx], [PgQueue.CreateTasksTx], …) run in the caller's
// pgx.Tx, so a task commits or rolls back with the caller's own writes.
// [RunAt] and [RunAfter] delay a task. A new task that is due wakes idle
// pools at once through LISTEN/NOTIFY; delayed tasks and retries are found
// by polling every [Config].PollInterval.
//
// # Running workers
//
// A [WorkerPool] runs tasks on [Config].Workers goroutines. The zero
// [Config] is valid; [NewWorkerPool] fills in the defaults and returns an
// error wrapping [ErrInvalidConfig] for a configuration that cannot work:
//
//	pool, err := backie.NewWorkerPool(queue, backie.Config{Workers: 50})
//	err = pool.Start(ctx) // returns once the workers are started
//
// Tasks are claimed oldest scheduled_at first. [Config].TaskTypes limits a
// pool to some task types. A panic in Run fails that attempt only; a
// database error or a lost connection is logged and retried with backoff;
// the pool keeps its concurrency. Workers share a few connections of the
// caller's pool to claim and finish tasks in batches, and the pool takes
// one connection out of it (no longer counted in MaxConns) to LISTEN for
// new tasks (see [Config].DisableNotifications).
//
// # Shutdown
//
// Cancelling the context given to [WorkerPool.Start] begins a graceful
// stop: the pool claims no more tasks and lets the running ones finish.
// After [Config].ShutdownGrace their contexts are cancelled (a hard stop),
// and a task that returns unfinished is released back to Ready without
// using an attempt. [WorkerPool.Wait] (or [WorkerPool.Done]) tells when
// every goroutine of the pool has exited:
//
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	if err := pool.Start(ctx); err != nil { … }
//	<-ctx.Done()
//	pool.Wait()
//
// [WorkerPool.Shutdown] does the same stop bounded by its own context, like
// net/http's Server.Shutdown, and may be called more than once. A Run that
// ignores its context delays the end of the stop.
//
// # Retries and timeouts
//
// An attempt fails when Run returns an error, panics (the panic value and
// stack are kept, see [ErrTaskPanicked]) or overruns its timeout
// ([ErrTaskTimeout]). While retries < MaxRetries the task is retried:
// the error is stored in error_info ([ErrorInfo]), the task is scheduled
// Backoff(retries) later (retries counts the earlier retries: 0, 1, 2…, so
// 1s, 2s, 4s… by default) and retries is incremented. Otherwise the task
// is Failed; MaxRetries 0 means it is never retried.
// A task that succeeds on a retry has its error_info cleared.
//
// The timeout of an attempt is the task's Timeout, or [Config].TaskTimeout
// when a pool sets it. A task left Running by a worker that died (process
// killed, machine lost) is taken back once it has been Running longer than
// its timeout plus [Config].RescueMargin; this counts as a failed attempt.
//
// # Unique tasks
//
// A task whose Uniq returns a non-empty [TaskHash] (often [HashOf] the
// task) is unique: while an unfinished task with the same hash exists,
// CreateTask inserts nothing and returns the existing record. A unique
// index and INSERT … ON CONFLICT make this race-free across processes.
// Once the task is Done or Failed, the hash is free again.
//
// # Retention
//
// [Config].Retention says which finished tasks stay in the table:
// [RemoveFinished] (the default) deletes tasks that succeed and keeps
// failed ones, [KeepAll] keeps both, [RemoveAll] deletes both. A task's
// state is derived from its columns ([TaskRecord.State]).
//
// # Migrations
//
// The schema is a set of golang-migrate SQL files (package migrations).
// [Migrate] applies them from Go on the caller's pool, under an advisory
// lock, so every process may call it at start-up:
//
//	err := backie.Migrate(ctx, db, backie.MigrateConfig{})
//
// The table goes to the schema of the pool's search_path, or to
// [MigrateConfig].Schema. golang-migrate's version table is
// [MigrationsTableDefault] (backie_schema_migrations), so it does not
// collide with the application's own. The same files work with the
// migrate CLI (see the README).
//
// # Errors
//
// Errors wrap sentinels to test with errors.Is: [ErrNilTask],
// [ErrTaskNotRegistered], [ErrTaskAlreadyRegistered], [ErrInvalidTaskName],
// [ErrEncodePayload], [ErrInvalidUniqHash], [ErrMissingTable] (migrations
// not run), [ErrPoolClosed] (the pgx pool is closed), [ErrInvalidConfig],
// [ErrNotFound], [ErrPoolStarted] and [ErrPoolStopped]. A cancelled
// context's error (context.Canceled, context.DeadlineExceeded) is wrapped
// too. A call that fails with one of them leaves the
// table unchanged. [ErrDecodePayload], [ErrTaskTimeout] and
// [ErrTaskPanicked] describe failed attempts, stored in error_info.
//
// # Guarantees
//
// Delivery is at least once: a task is never handed to two workers at once,
// but it may run again after its worker was lost, or after it overran its
// timeout while its Run ignored the context, so Run should be idempotent.
// Every write that finishes a task is guarded by the attempt that claimed
// it, so a task taken back from a lost worker is never finished twice.
// Nothing stays Running forever: unfinished tasks are released on shutdown
// or taken back after their timeout plus the rescue margin.
package backie
