package backieui

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"

	"github.com/backie-go/backie"
)

// listQuery is the task list's filter as it stands in the URL:
//
//	/tasks?state=failed&type=email&type=sms&name=send_email&priority=1&order=oldest&limit=100&cursor=…
//
// type, name and priority may repeat; a task matches when it has one of
// the values. The cursor is the backend's TaskPage.Next.
type listQuery struct {
	State      backie.TaskState
	Types      []backie.TaskType
	Names      []string
	Priorities []int
	Oldest     bool
	Limit      int // 0: the configured page size
	Cursor     string
}

// parseListQuery reads the filter of the task list from q, or says what is
// wrong with it.
func parseListQuery(q url.Values) (listQuery, error) {
	var lq listQuery
	if s := q.Get("state"); s != "" && s != "all" {
		if !slices.Contains(backie.AllStates, backie.TaskState(s)) {
			return lq, fmt.Errorf("there is no state %q: the states are ready, scheduled, running, done, failed and cancelled", s)
		}
		lq.State = backie.TaskState(s)
	}
	for _, t := range q["type"] {
		if t != "" && !slices.Contains(lq.Types, backie.TaskType(t)) {
			lq.Types = append(lq.Types, backie.TaskType(t))
		}
	}
	for _, n := range q["name"] {
		if n != "" && !slices.Contains(lq.Names, n) {
			lq.Names = append(lq.Names, n)
		}
	}
	for _, p := range q["priority"] {
		if p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < backie.PriorityUrgent || n > backie.PriorityLowest {
			return lq, fmt.Errorf("priority %q is not one of 1 (urgent), 2 (default), 3 (low) and 4 (lowest)", p)
		}
		if !slices.Contains(lq.Priorities, n) {
			lq.Priorities = append(lq.Priorities, n)
		}
	}
	switch o := q.Get("order"); o {
	case "", "newest":
	case "oldest":
		lq.Oldest = true
	default:
		return lq, fmt.Errorf("order %q is neither newest nor oldest", o)
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxPageSize {
			return lq, fmt.Errorf("limit %q is not a number between 1 and %d", l, MaxPageSize)
		}
		lq.Limit = n
	}
	lq.Cursor = q.Get("cursor")
	return lq, nil
}

// filter is the backend's filter for the query, with pageSize tasks a page
// unless the query says otherwise.
func (lq listQuery) filter(pageSize int) backie.ListFilter {
	f := backie.ListFilter{
		State:      lq.State,
		Types:      slices.Clone(lq.Types),
		Names:      slices.Clone(lq.Names),
		Priorities: slices.Clone(lq.Priorities),
		Oldest:     lq.Oldest,
		Limit:      pageSize,
		Cursor:     lq.Cursor,
	}
	if lq.Limit > 0 {
		f.Limit = lq.Limit
	}
	return f
}

// values encodes the query for a URL; the cursor is left out.
func (lq listQuery) values() url.Values {
	v := url.Values{}
	if lq.State != "" {
		v.Set("state", string(lq.State))
	}
	for _, t := range lq.Types {
		v.Add("type", string(t))
	}
	for _, n := range lq.Names {
		v.Add("name", n)
	}
	for _, p := range lq.Priorities {
		v.Add("priority", strconv.Itoa(p))
	}
	if lq.Oldest {
		v.Set("order", "oldest")
	}
	if lq.Limit > 0 {
		v.Set("limit", strconv.Itoa(lq.Limit))
	}
	return v
}

// url is the list's path for the query, first page unless cursor is set.
func (lq listQuery) url(cursor string) string {
	v := lq.values()
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	if len(v) == 0 {
		return "tasks"
	}
	return "tasks?" + v.Encode()
}

// Filtered reports whether the query selects less than every task.
func (lq listQuery) Filtered() bool {
	return lq.State != "" || len(lq.Types) > 0 || len(lq.Names) > 0 || len(lq.Priorities) > 0
}

// withState is the query for another state (first page).
func (lq listQuery) withState(s backie.TaskState) listQuery {
	lq.State, lq.Cursor = s, ""
	return lq
}

// chip is an active filter shown above the list, with the link that
// removes it.
type chip struct {
	Label, Value, Remove string
}

func (lq listQuery) chips() []chip {
	var cs []chip
	for i, t := range lq.Types {
		q := lq
		q.Types = slices.Delete(slices.Clone(lq.Types), i, i+1)
		cs = append(cs, chip{"type", string(t), q.url("")})
	}
	for i, n := range lq.Names {
		q := lq
		q.Names = slices.Delete(slices.Clone(lq.Names), i, i+1)
		cs = append(cs, chip{"name", n, q.url("")})
	}
	for i, p := range lq.Priorities {
		q := lq
		q.Priorities = slices.Delete(slices.Clone(lq.Priorities), i, i+1)
		cs = append(cs, chip{"priority", priorityName(p), q.url("")})
	}
	return cs
}
