package backie

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// notifier sends the NOTIFY that wakes idle pools after tasks are inserted
// outside a caller's transaction.
//
// Postgres serializes the commits of transactions that NOTIFY (a lock held
// from pre-commit until the commit record is flushed), so NOTIFY inside
// each insert would make concurrent inserts wait for each other's disk
// flush. Instead the insert commits on its own and the notifier sends one
// NOTIFY per task type in a read-only transaction, coalescing the inserts
// that happen while one is in flight. Its goroutine exits when nothing is
// pending; a lost notification only delays a task until the next poll.
type notifier struct {
	pool    *pgxpool.Pool
	mu      sync.Mutex
	pending []string
	running bool
}

const notifySQL = `SELECT pg_notify(` + notifyChannel + `, t) FROM unnest($1::text[]) AS t`

// notifyTimeout bounds one NOTIFY statement.
const notifyTimeout = 5 * time.Second

// notifySpacing is the least time between two NOTIFY statements of one
// queue: at high insert rates a notification gathers the inserts of a
// millisecond; at low rates each insert is notified at once.
const notifySpacing = time.Millisecond

func (n *notifier) notify(types []string) {
	if len(types) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, t := range types {
		if !slices.Contains(n.pending, t) {
			n.pending = append(n.pending, t)
		}
	}
	if !n.running {
		n.running = true
		go n.run()
	}
}

func (n *notifier) run() {
	var last time.Time
	for {
		if wait := notifySpacing - time.Since(last); wait > 0 && !last.IsZero() {
			time.Sleep(wait) // at most notifySpacing, in a goroutine no caller waits for
		}
		n.mu.Lock()
		types := n.pending
		n.pending = nil
		if len(types) == 0 {
			n.running = false
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()
		last = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
		_, _ = n.pool.Exec(ctx, notifySQL, types) // best effort: pools also poll
		cancel()
	}
}
