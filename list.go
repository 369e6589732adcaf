package backie

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ListFilter selects the tasks ListTasks returns. Its zero value lists
// every task, newest first, 50 at a time.
type ListFilter struct {
	// State keeps the tasks in this state; "" keeps every state.
	State TaskState
	// Types, Names and Priorities keep the tasks of these types, names and
	// priorities; empty keeps all.
	Types      []TaskType
	Names      []string
	Priorities []int
	// From and To bound the list's time: From <= time < To; a zero time is
	// no bound. The list's time is scheduled_at for Ready, Scheduled and
	// Running tasks, done_at for Done, Failed and Cancelled ones, and
	// created_at for every state.
	From, To time.Time
	// Oldest lists the oldest first; by default the newest come first.
	Oldest bool
	// Limit is the most tasks of a page: 1 to ListLimitMax. Defaults to
	// ListLimitDefault.
	Limit int
	// Cursor continues a list: TaskPage.Next of the previous page, with the
	// same filter. Empty starts at the beginning.
	Cursor string
}

// Limits of ListFilter.Limit.
const (
	ListLimitDefault = 50
	ListLimitMax     = 1000
)

// TaskPage is one page of ListTasks.
type TaskPage struct {
	Tasks []*TaskRecord
	// Next is the cursor of the next page, "" on the last one.
	Next string
}

// ListTasks returns the tasks f selects, a page at a time, in the order of
// the list's time (see ListFilter.From), ties broken by id. Pages are
// read through an index from where the previous one ended (keyset
// pagination, never OFFSET), so a page costs about the same at any depth,
// and tasks that come or go between pages do not shift the others.
//
// A filter by name is applied to the rows the index walk reads; so is a
// filter by type for the finished states and for every state together,
// and the Running state is read among the unfinished tasks in claim order:
// those lists read further when few tasks match. It fails with
// ErrInvalidFilter for an unknown state, a limit out of range, a priority
// out of range or a cursor of another list.
func (q *PgQueue) ListTasks(ctx context.Context, f ListFilter) (*TaskPage, error) {
	if err := q.check(ctx); err != nil {
		return nil, opError("list tasks", err)
	}
	l, err := planList(f)
	if err != nil {
		return nil, opError("list tasks", err)
	}
	// The plan settings keep the walk on the index whatever the statistics
	// say (see sqlPlanSettings): a list must not read the whole table.
	b := &pgx.Batch{}
	b.Queue(sqlPlanSettings)
	b.Queue(l.sql, l.args...)
	recs, _, err := sendClaim(ctx, q.pool, b, l.limit)
	if err != nil {
		return nil, opError("list tasks", err)
	}
	page := &TaskPage{Tasks: recs}
	if len(recs) == l.limit {
		page.Next = l.cursorAfter(recs[len(recs)-1])
	}
	return page, nil
}

// listQuery is a planned ListTasks.
type listQuery struct {
	sql   string
	args  []any
	limit int
	key   listKey
}

// listKey is what a list is ordered by, and what its cursors hold.
type listKey string

const (
	keyScheduled listKey = "s" // scheduled_at, id
	keyDone      listKey = "d" // done_at, id
	keyID        listKey = "i" // id
)

// listCursor is a decoded ListFilter.Cursor.
type listCursor struct {
	Key   listKey   `json:"k"`
	State TaskState `json:"s"`
	At    time.Time `json:"t,omitzero"`
	ID    uuid.UUID `json:"i"`
}

func (l *listQuery) cursorAfter(r *TaskRecord) string {
	c := listCursor{Key: l.key, ID: r.ID}
	switch l.key {
	case keyScheduled:
		c.At = r.ScheduledAt
	case keyDone:
		c.At = *r.DoneAt
	}
	c.State = r.State()
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// planList builds the statement of a ListTasks.
func planList(f ListFilter) (*listQuery, error) {
	bad := func(format string, args ...any) (*listQuery, error) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidFilter, fmt.Sprintf(format, args...))
	}
	if f.State != "" && !f.State.valid() {
		return bad("unknown state %q", f.State)
	}
	limit := f.Limit
	if limit == 0 {
		limit = ListLimitDefault
	}
	if limit < 1 || limit > ListLimitMax {
		return bad("limit %d, want 1 to %d", limit, ListLimitMax)
	}
	levels := slices.Clone(priorities)
	if len(f.Priorities) > 0 {
		levels = levels[:0]
		for _, p := range priorities {
			if slices.Contains(f.Priorities, int(p)) {
				levels = append(levels, p)
			}
		}
		for _, p := range f.Priorities {
			if !validPriority(p) {
				return bad("priority %d, want %d to %d", p, PriorityUrgent, PriorityLowest)
			}
		}
	}
	for _, t := range f.Types {
		if err := validTaskType(t); err != nil {
			return bad("type %q: %v", t, err)
		}
	}
	var types []string
	for _, t := range f.Types {
		types = append(types, string(t))
	}
	waiting := f.State == StateReady || f.State == StateScheduled || f.State == StateRunning
	l := &listQuery{limit: limit, args: []any{limit}}
	if waiting {
		// $2 the priorities, and $3 the types when there are any: the scans.
		l.args = append(l.args, levels)
		if len(types) > 0 {
			l.args = append(l.args, types)
		}
	}
	arg := func(v any) string {
		l.args = append(l.args, v)
		return fmt.Sprintf("$%d", len(l.args))
	}
	dir, cmp := "DESC", "<"
	if f.Oldest {
		dir, cmp = "ASC", ">"
	}
	var cur *listCursor
	if f.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		cur = new(listCursor)
		if err != nil || json.Unmarshal(b, cur) != nil {
			return bad("cursor %q does not decode", f.Cursor)
		}
	}
	// The filters every list applies to the rows it reads.
	var filters strings.Builder
	and := func(format string, args ...any) { fmt.Fprintf(&filters, "\n  AND "+format, args...) }
	if len(f.Names) > 0 {
		and("task_name = ANY(%s::text[])", arg(f.Names))
	}
	bounds := func(col string) {
		if !f.From.IsZero() {
			and("%s >= %s", col, arg(f.From))
		}
		if !f.To.IsZero() {
			and("%s < %s", col, arg(f.To))
		}
	}

	// The list's key, and its time column: the cursor continues after it,
	// and From and To bound it.
	timeCol := ""
	l.key = keyID
	switch f.State {
	case StateReady, StateScheduled, StateRunning:
		l.key, timeCol = keyScheduled, "scheduled_at"
	case StateDone, StateFailed, StateCancelled:
		l.key, timeCol = keyDone, "done_at"
	}
	if cur != nil {
		switch {
		case cur.Key != l.key:
			return bad("the cursor belongs to another list")
		case timeCol != "":
			and("(%s, id) %s (%s::timestamptz, %s::uuid)", timeCol, cmp, arg(cur.At), arg(cur.ID))
		default:
			and("id %s %s::uuid", cmp, arg(cur.ID))
		}
	}
	switch {
	case timeCol != "":
		bounds(timeCol)
	default: // every state: the ids hold their creation time
		if !f.From.IsZero() {
			and("id >= %s::uuid", arg(uuidAt(f.From)))
		}
		if !f.To.IsZero() {
			and("id < %s::uuid", arg(uuidAt(f.To)))
		}
	}

	switch l.key {
	case keyScheduled:
		state := map[TaskState]string{StateReady: listReady, StateScheduled: listScheduled, StateRunning: listRunning}[f.State]
		from, scan := listFromLevels, notDone+" AND priority = lv.priority"
		if len(types) > 0 {
			from, scan = listFromTypesAndLevels, notDoneByType+" AND task_type = ty.task_type AND priority = lv.priority"
		}
		conds := strings.ReplaceAll("\n  AND "+state+filters.String(), "\n  AND ", "\n\t  AND ")
		l.sql = fmt.Sprintf(listWaiting, from, conds, dir, columns("t."), scan)
	case keyDone:
		listTypesAndPriorities(f, types, levels, and, arg)
		state := map[TaskState]string{StateDone: listDone, StateFailed: listFailed, StateCancelled: listCancelled}[f.State]
		l.sql = fmt.Sprintf(listFinished, state, filters.String(), dir, columns(""))
	default:
		listTypesAndPriorities(f, types, levels, and, arg)
		l.sql = fmt.Sprintf(listAny, filters.String(), dir, columns(""))
	}
	return l, nil
}

// listTypesAndPriorities adds the type and priority filters of a list that
// reads them from the rows.
func listTypesAndPriorities(f ListFilter, types []string, levels []int16, and func(string, ...any), arg func(any) string) {
	if len(types) > 0 {
		and("task_type = ANY(%s::text[])", arg(types))
	}
	if len(f.Priorities) > 0 {
		and("priority = ANY(%s::smallint[])", arg(levels))
	}
}

// uuidAt returns the smallest UUIDv7 of time t: ids created at t or later
// are not smaller.
func uuidAt(t time.Time) uuid.UUID {
	var u uuid.UUID
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = 0x70 // version 7
	u[8] = 0x80 // variant
	return u
}
