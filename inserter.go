package backie

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// inserter merges concurrent CreateTask and CreateTasks calls of one PgQueue
// into single INSERT statements.
//
// Postgres spends far more on a statement and its commit (a WAL flush) than
// on a row, so sixteen goroutines each inserting one task are faster as one
// sixteen-row insert. Calls of insertAloneRows tasks or more are already
// batches and run on their own. At most one merged insert is in flight per queue: a
// call that finds none becomes the leader and runs its own insert at once
// (a lone caller waits for nobody); calls that arrive meanwhile queue up,
// and when the leader's insert returns, the first of them leads the next
// insert for all of them. Every call returns only when its own rows are
// committed.
type inserter struct {
	mu      sync.Mutex
	busy    bool // an insert is in flight
	waiting []*insertCall
}

type insertCall struct {
	args insertArgs
	lead chan struct{} // closed: this call leads the next insert
	done chan struct{} // closed: rows or err are set
	rows map[TaskID]insertedRow
	err  error
}

// insertAloneRows is the size from which a call inserts on its own.
const insertAloneRows = 64

// insertMergeMax bounds the rows of one merged insert.
const insertMergeMax = 5000

// insertStatementTimeout bounds an insert that carries other callers' rows:
// it runs on a context none of them can cancel alone.
const insertStatementTimeout = time.Minute

func (n *inserter) insert(ctx context.Context, pool *pgxpool.Pool, a insertArgs) (map[TaskID]insertedRow, error) {
	if len(a.ids) >= insertAloneRows {
		// Big enough to carry its own statement; running it beside the
		// merged inserts lets Postgres use more than one core.
		return runInsert(ctx, pool, a)
	}
	n.mu.Lock()
	if !n.busy {
		n.busy = true
		n.mu.Unlock()
		// Alone: the caller's own statement, on its own context.
		rows, err := runInsert(ctx, pool, a)
		n.handOff()
		return rows, err
	}
	call := &insertCall{args: a, lead: make(chan struct{}), done: make(chan struct{})}
	n.waiting = append(n.waiting, call)
	n.mu.Unlock()

	select {
	case <-call.done:
		return call.rows, call.err
	case <-call.lead:
		n.lead(ctx, pool, call)
		return call.rows, call.err
	case <-ctx.Done():
	}
	// Cancelled: withdraw the call if no insert has taken it yet; otherwise
	// its rows are being written, and the caller learns what happened.
	n.mu.Lock()
	if i := slices.Index(n.waiting, call); i >= 0 {
		n.waiting = slices.Delete(n.waiting, i, i+1)
		n.mu.Unlock()
		return nil, ctx.Err()
	}
	n.mu.Unlock()
	select {
	case <-call.done:
	case <-call.lead:
		n.lead(ctx, pool, call)
	}
	return call.rows, call.err
}

// lead runs one merged insert for first and the calls queued behind it,
// then hands the lead on.
func (n *inserter) lead(ctx context.Context, pool *pgxpool.Pool, first *insertCall) {
	n.mu.Lock()
	calls := []*insertCall{first}
	rows := len(first.args.ids)
	for len(n.waiting) > 0 && rows+len(n.waiting[0].args.ids) <= insertMergeMax {
		calls = append(calls, n.waiting[0])
		rows += len(n.waiting[0].args.ids)
		n.waiting = n.waiting[1:]
	}
	n.mu.Unlock()

	if len(calls) == 1 {
		first.rows, first.err = runInsert(ctx, pool, first.args)
	} else {
		var merged insertArgs
		for _, c := range calls {
			merged.addAll(c.args)
		}
		stmtCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), insertStatementTimeout)
		all, err := runInsert(stmtCtx, pool, merged)
		cancel()
		for _, c := range calls {
			if err != nil {
				// Let each call fail or succeed on its own rows (one bad
				// payload must not fail the others).
				c.rows, c.err = runInsertAlone(ctx, pool, c)
				continue
			}
			c.rows = make(map[TaskID]insertedRow, len(c.args.ids))
			for _, pid := range c.args.ids {
				id := TaskID(pid.Bytes)
				if r, ok := all[id]; ok {
					c.rows[id] = r
				}
			}
		}
	}
	for _, c := range calls[1:] {
		close(c.done)
	}
	n.handOff()
}

func runInsertAlone(ctx context.Context, pool *pgxpool.Pool, c *insertCall) (map[TaskID]insertedRow, error) {
	stmtCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), insertStatementTimeout)
	defer cancel()
	return runInsert(stmtCtx, pool, c.args)
}

// handOff passes the lead to the first queued call, or marks the inserter
// idle.
func (n *inserter) handOff() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.waiting) == 0 {
		n.busy = false
		return
	}
	next := n.waiting[0]
	n.waiting = n.waiting[1:]
	close(next.lead)
}
