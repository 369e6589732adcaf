package backietest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backie-go/backie"
)

// source is where the assertions read tasks: a PgQueue's table, the table
// as a transaction sees it, or a RecordingQueue.
type source interface {
	// named returns the tasks of name, oldest first.
	named(ctx context.Context, name string) ([]*backie.TaskRecord, error)
	// recent returns the n newest tasks of any name, oldest first, and
	// whether there are older ones.
	recent(ctx context.Context, n int) ([]*backie.TaskRecord, bool, error)
	// now is the time a task's state is judged at: the test's clock for
	// a database, the queue's for a RecordingQueue.
	now() time.Time
}

// sourceOf returns the source of q, or fails the test for a queue the kit
// cannot read.
func sourceOf(tb testing.TB, op string, q Queue) source {
	tb.Helper()
	switch q := q.(type) {
	case *backie.PgQueue:
		if q != nil {
			return poolSource{q: q}
		}
	case *RecordingQueue:
		if q != nil {
			return memSource{q: q}
		}
	}
	tb.Fatalf("backietest: %s reads a *backie.PgQueue or a *backietest.RecordingQueue, not %T", op, q)
	return nil
}

// poolSource reads a PgQueue's table through ListTasks.
type poolSource struct{ q *backie.PgQueue }

func (s poolSource) named(ctx context.Context, name string) ([]*backie.TaskRecord, error) {
	var out []*backie.TaskRecord
	f := backie.ListFilter{Names: []string{name}, Oldest: true, Limit: backie.ListLimitMax}
	for {
		page, err := s.q.ListTasks(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Tasks...)
		if page.Next == "" {
			return out, nil
		}
		f.Cursor = page.Next
	}
}

func (s poolSource) recent(ctx context.Context, n int) ([]*backie.TaskRecord, bool, error) {
	page, err := s.q.ListTasks(ctx, backie.ListFilter{Limit: n})
	if err != nil {
		return nil, false, err
	}
	slices.Reverse(page.Tasks)
	return page.Tasks, page.Next != "", nil
}

func (poolSource) now() time.Time { return time.Now() }

// txSource reads the table in a transaction, which has no ListTasks: it
// finds the ids itself and reads each task with FindTaskTx, so that the
// library decodes the rows.
type txSource struct {
	q  *backie.PgQueue
	tx pgx.Tx
}

func (s txSource) named(ctx context.Context, name string) ([]*backie.TaskRecord, error) {
	return s.find(ctx, sqlTaskIDsOfName, name)
}

func (s txSource) recent(ctx context.Context, n int) ([]*backie.TaskRecord, bool, error) {
	recs, err := s.find(ctx, sqlRecentTaskIDs, n+1)
	if err != nil {
		return nil, false, err
	}
	more := len(recs) > n
	recs = recs[:min(n, len(recs))]
	slices.Reverse(recs)
	return recs, more, nil
}

func (s txSource) find(ctx context.Context, sql string, args ...any) ([]*backie.TaskRecord, error) {
	rows, err := s.tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("backietest: list task ids: %w", err)
	}
	ids, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (backie.TaskID, error) {
		var id backie.TaskID
		err := row.Scan((*[16]byte)(&id)) // as the library scans ids, in every exec mode
		return id, err
	})
	if err != nil {
		return nil, fmt.Errorf("backietest: list task ids: %w", err)
	}
	recs := make([]*backie.TaskRecord, 0, len(ids))
	for _, id := range ids {
		rec, err := s.q.FindTaskTx(ctx, s.tx, id)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

func (txSource) now() time.Time { return time.Now() }

// memSource reads a RecordingQueue.
type memSource struct{ q *RecordingQueue }

func (s memSource) named(_ context.Context, name string) ([]*backie.TaskRecord, error) {
	return s.q.storedOf(name), nil
}

func (s memSource) recent(_ context.Context, n int) ([]*backie.TaskRecord, bool, error) {
	recs := s.q.Tasks()
	if len(recs) > n {
		return recs[len(recs)-n:], true, nil
	}
	return recs, false, nil
}

func (s memSource) now() time.Time { return s.q.now() }
