package backie_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// listSeed enqueues tasks of every state, two types, two names and several
// priorities, and returns them by state.
func listSeed(t *testing.T) (*backie.PgQueue, map[backie.TaskState][]*backie.TaskRecord) {
	t.Helper()
	q, pool := enqQueue(t)
	ctx := t.Context()
	byState := map[backie.TaskState][]*backie.TaskRecord{}
	base := time.Now().Add(-time.Hour)
	set := map[backie.TaskState]string{
		backie.StateRunning:   `running_at = now(), attempt = 1`,
		backie.StateDone:      `running_at = now(), done_at = now() - $2::interval, attempt = 1`,
		backie.StateFailed:    `done_at = now() - $2::interval, error_info = '{"message":"x"}'`,
		backie.StateCancelled: `done_at = now() - $2::interval, cancelled_at = now()`,
	}
	i := 0
	for _, state := range backie.AllStates {
		for k := range 7 {
			i++
			var task backie.Task = &enqTask{N: i}
			if k%3 == 1 {
				task = &enqMailTask{To: "x"} // type mail, name enq_mail
			}
			at := base.Add(time.Duration(i) * time.Second)
			if state == backie.StateScheduled {
				at = time.Now().Add(time.Duration(i) * time.Minute)
			}
			rec, err := q.CreateTask(ctx, task, backie.RunAt(at), backie.WithPriority(1+k%4))
			require.NoError(t, err)
			if s, ok := set[state]; ok {
				args := []any{rec.ID}
				if strings.Contains(s, "$2") {
					args = append(args, fmt.Sprintf("%d seconds", 100-i))
				}
				_, err := pool.Exec(ctx, `UPDATE backie_tasks SET `+s+` WHERE id = $1`, args...)
				require.NoError(t, err)
			}
			rec, err = q.FindTask(ctx, rec.ID)
			require.NoError(t, err)
			require.Equal(t, state, rec.State())
			byState[state] = append(byState[state], rec)
		}
	}
	return q, byState
}

// listAll walks every page of f and returns the tasks.
func listAll(t *testing.T, q *backie.PgQueue, f backie.ListFilter) []*backie.TaskRecord {
	t.Helper()
	var out []*backie.TaskRecord
	for pages := 0; ; pages++ {
		require.Less(t, pages, 100, "too many pages")
		page, err := q.ListTasks(t.Context(), f)
		require.NoError(t, err)
		limit := f.Limit
		if limit == 0 {
			limit = backie.ListLimitDefault
		}
		require.LessOrEqual(t, len(page.Tasks), limit)
		out = append(out, page.Tasks...)
		if page.Next == "" {
			return out
		}
		f.Cursor = page.Next
	}
}

func listIDs(recs []*backie.TaskRecord) []backie.TaskID {
	ids := make([]backie.TaskID, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids
}

// TestListTasks: every state, page by page, newest or oldest first, with
// filters by type, name, priority and time, gives exactly the tasks that
// match, in the list's order.
func TestListTasks(t *testing.T) {
	t.Parallel()
	q, byState := listSeed(t)
	listTime := func(s backie.TaskState, r *backie.TaskRecord) time.Time {
		switch s {
		case backie.StateDone, backie.StateFailed, backie.StateCancelled:
			return *r.DoneAt
		case "":
			return r.CreatedAt
		}
		return r.ScheduledAt
	}
	for _, state := range append([]backie.TaskState{""}, backie.AllStates...) {
		var all []*backie.TaskRecord
		if state == "" {
			for _, s := range backie.AllStates {
				all = append(all, byState[s]...)
			}
		} else {
			all = byState[state]
		}
		for _, oldest := range []bool{false, true} {
			for _, f := range []backie.ListFilter{
				{},
				{Types: []backie.TaskType{"mail"}},
				{Names: []string{"enq_task"}},
				{Priorities: []int{1, 3}},
				{Types: []backie.TaskType{"mail", "common"}, Priorities: []int{2}},
			} {
				f.State, f.Oldest, f.Limit = state, oldest, 2
				var want []*backie.TaskRecord
				for _, r := range all {
					if (len(f.Types) == 0 || slices.Contains(f.Types, r.Type)) &&
						(len(f.Names) == 0 || slices.Contains(f.Names, r.Name)) &&
						(len(f.Priorities) == 0 || slices.Contains(f.Priorities, r.Priority)) {
						want = append(want, r)
					}
				}
				slices.SortFunc(want, func(a, b *backie.TaskRecord) int {
					c := listTime(state, a).Compare(listTime(state, b))
					if state == "" || c == 0 {
						c = strings.Compare(a.ID.String(), b.ID.String())
					}
					if !oldest {
						c = -c
					}
					return c
				})
				got := listAll(t, q, f)
				require.Equal(t, listIDs(want), listIDs(got), "state %q, filter %+v", state, f)
			}
		}
	}

	// Time bounds: From <= list time < To.
	done := byState[backie.StateDone]
	from, to := *done[1].DoneAt, *done[4].DoneAt
	got := listAll(t, q, backie.ListFilter{State: backie.StateDone, From: from, To: to, Oldest: true})
	var want []backie.TaskID
	for _, r := range done {
		if !r.DoneAt.Before(from) && r.DoneAt.Before(to) {
			want = append(want, r.ID)
		}
	}
	require.NotEmpty(t, want)
	require.ElementsMatch(t, want, listIDs(got))
	created := listAll(t, q, backie.ListFilter{From: time.Now().Add(-time.Minute), Oldest: true})
	require.Len(t, created, 42, "every task was created in the last minute")
	require.Empty(t, listAll(t, q, backie.ListFilter{To: time.Now().Add(-time.Minute)}))

	// The default page.
	page, err := q.ListTasks(t.Context(), backie.ListFilter{})
	require.NoError(t, err)
	require.Len(t, page.Tasks, 42)
	require.Empty(t, page.Next)
}

func TestListTasksBadFilter(t *testing.T) {
	t.Parallel()
	q, _ := listSeed(t)
	ctx := t.Context()
	page, err := q.ListTasks(ctx, backie.ListFilter{State: backie.StateReady, Limit: 1})
	require.NoError(t, err)
	require.NotEmpty(t, page.Next)
	for name, f := range map[string]backie.ListFilter{
		"unknown state":            {State: "lost"},
		"limit too large":          {Limit: backie.ListLimitMax + 1},
		"negative limit":           {Limit: -1},
		"priority out of range":    {Priorities: []int{0}},
		"bad cursor":               {Cursor: "not a cursor"},
		"cursor of another list":   {State: backie.StateDone, Cursor: page.Next},
		"a type with a NUL":        {Types: []backie.TaskType{"a\x00"}},
		"cursor of any-state list": {State: backie.StateRunning, Cursor: mustNext(t, q, backie.ListFilter{Limit: 1})},
	} {
		_, err := q.ListTasks(ctx, f)
		require.ErrorIs(t, err, backie.ErrInvalidFilter, name)
	}
}

func mustNext(t *testing.T, q *backie.PgQueue, f backie.ListFilter) string {
	t.Helper()
	page, err := q.ListTasks(t.Context(), f)
	require.NoError(t, err)
	require.NotEmpty(t, page.Next)
	return page.Next
}

// TestListPlans: each kind of list reads through an index, never the whole
// table, on an analysed table of 20,000 tasks.
func TestListPlans(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 2})
	env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error { return nil })
	tasks := make([]*wpTask, 20000)
	for i := range tasks {
		tasks[i] = env.task(i)
	}
	for chunk := range slices.Chunk(tasks, 5000) {
		env.create(t, chunk...)
	}
	ctx := context.Background()
	_, err := db.Exec(ctx, `UPDATE backie_tasks SET done_at = now() WHERE (payload->>'n')::int % 4 = 0`)
	require.NoError(t, err)
	_, err = db.Exec(ctx, `UPDATE backie_tasks SET done_at = now(), error_info = '{}' WHERE (payload->>'n')::int % 4 = 1`)
	require.NoError(t, err)
	_, err = db.Exec(ctx, `ANALYZE backie_tasks`)
	require.NoError(t, err)
	for _, c := range []struct {
		f     backie.ListFilter
		index string
	}{
		{backie.ListFilter{}, "backie_tasks_pkey"},
		{backie.ListFilter{State: backie.StateReady}, "backie_tasks_claim_idx"},
		{backie.ListFilter{State: backie.StateScheduled, Oldest: true}, "backie_tasks_claim_idx"},
		{backie.ListFilter{State: backie.StateRunning}, "backie_tasks_claim_idx"},
		{backie.ListFilter{State: backie.StateReady, Types: []backie.TaskType{"common"}}, "backie_tasks_type_claim_idx"},
		{backie.ListFilter{State: backie.StateDone}, "backie_tasks_done_idx"},
		{backie.ListFilter{State: backie.StateFailed, Oldest: true}, "backie_tasks_failed_idx"},
		{backie.ListFilter{State: backie.StateCancelled}, "backie_tasks_failed_idx"},
	} {
		sql, args, err := backie.ListSQLForTest(c.f)
		require.NoError(t, err)
		var lines []string
		err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			// ListTasks sends its statement after the plan settings.
			if _, err := tx.Exec(ctx, backie.PlanSQLForTest); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, "EXPLAIN "+sql, args...)
			if err != nil {
				return err
			}
			lines, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		require.NoError(t, err)
		plan := strings.Join(lines, "\n")
		require.Contains(t, plan, c.index, "%+v:\n%s", c.f, plan)
		require.NotContains(t, plan, "Seq Scan", "%+v:\n%s", c.f, plan)
	}
}
