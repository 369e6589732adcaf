package backieui

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/backie-go/backie"
)

// overviewPage is the data of the overview.
type overviewPage struct {
	Stats *backie.Stats
	// Total is the number of tasks in the table.
	Total int64
	// Hour adds up the throughput of the last hour.
	Hour throughputTotals
	// Workers and Running add up the live processes.
	Workers, Running int
	// Leader is the live process that leads, if any.
	Leader *backie.Process
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request) {
	st, err := h.backend.Stats(r.Context())
	if err != nil {
		h.backendError(w, r, "read the statistics", err)
		return
	}
	p := &overviewPage{Stats: st, Hour: sumThroughput(st.Throughput)}
	p.Total = st.Totals.Total()
	for i := range st.Processes {
		p.Workers += st.Processes[i].Workers
		p.Running += st.Processes[i].Running
		if st.Processes[i].Leader {
			p.Leader = &st.Processes[i]
		}
	}
	v := h.newView(w, r, "overview", "Overview", p)
	v.RefreshMS = h.refreshMS()
	h.render(w, r, http.StatusOK, "overview", v)
}

func (h *Handler) refreshMS() int64 {
	if h.cfg.RefreshInterval < 0 {
		return 0
	}
	return h.cfg.RefreshInterval.Milliseconds()
}

// listPage is the data of the task list.
type listPage struct {
	Query listQuery
	Tasks []*backie.TaskRecord
	// NextURL is the next page's link, FirstURL the first page's while on
	// a later one ("" when there is none).
	NextURL, FirstURL string
	// Tabs are the states, with their counts when the statistics answered.
	Tabs  []tab
	Chips []chip
	// Types and Names are the choices of the filter form.
	Types []backie.TaskType
	Names []string
	// Priorities are the choices of the priority filter.
	Priorities []int
	// Paused are the paused types.
	Paused map[backie.TaskType]bool
	// HasCounts is false when the statistics did not answer.
	HasCounts bool
	// Problem says why the filter was refused.
	Problem string
}

type tab struct {
	State  backie.TaskState // "" for every state
	Count  int64
	URL    string
	Active bool
}

func (h *Handler) taskList(w http.ResponseWriter, r *http.Request) {
	lq, err := parseListQuery(r.URL.Query())
	p := &listPage{Query: lq, Priorities: []int{backie.PriorityUrgent, backie.PriorityDefault, backie.PriorityLow, backie.PriorityLowest}}
	// The counts and the choices of the form come from the statistics; the
	// list works without them.
	st, stErr := h.backend.Stats(r.Context())
	if stErr != nil && r.Context().Err() == nil {
		h.cfg.Logger.WarnContext(r.Context(), "backieui: read the statistics for the task list", "error", stErr)
	}
	p.fillChoices(st, lq)
	if err != nil {
		p.Problem = err.Error()
		v := h.newView(w, r, "tasks", "Tasks", p)
		h.render(w, r, http.StatusBadRequest, "tasks", v)
		return
	}
	page, err := h.backend.ListTasks(r.Context(), lq.filter(h.cfg.PageSize))
	if errors.Is(err, backie.ErrInvalidFilter) {
		p.Problem = err.Error()
		if lq.Cursor != "" {
			p.Problem = "This page's link is no longer valid (" + err.Error() + "). Start again from the first page."
		}
		v := h.newView(w, r, "tasks", "Tasks", p)
		h.render(w, r, http.StatusBadRequest, "tasks", v)
		return
	}
	if err != nil {
		h.backendError(w, r, "list the tasks", err)
		return
	}
	p.Tasks = page.Tasks
	if page.Next != "" {
		p.NextURL = lq.url(page.Next)
	}
	if lq.Cursor != "" {
		p.FirstURL = lq.url("")
	}
	title := "Tasks"
	if lq.State != "" {
		title = strings.ToUpper(string(lq.State[:1])) + string(lq.State[1:]) + " tasks"
	}
	v := h.newView(w, r, "tasks", title, p)
	v.RefreshMS = h.refreshMS()
	h.render(w, r, http.StatusOK, "tasks", v)
}

// fillChoices fills in the tabs, the chips and the choices of the filter
// form; st may be nil.
func (p *listPage) fillChoices(st *backie.Stats, lq listQuery) {
	p.HasCounts = st != nil
	p.Paused = map[backie.TaskType]bool{}
	all := tab{URL: lq.withState("").url(""), Active: lq.State == ""}
	if st != nil {
		for _, s := range backie.AllStates {
			all.Count += st.Totals.Of(s)
		}
	}
	p.Tabs = append(p.Tabs, all)
	for _, s := range backie.AllStates {
		t := tab{State: s, URL: lq.withState(s).url(""), Active: lq.State == s}
		if st != nil {
			t.Count = st.Totals.Of(s)
		}
		p.Tabs = append(p.Tabs, t)
	}
	p.Chips = lq.chips()
	if st != nil {
		for _, ts := range st.Types {
			p.Types = append(p.Types, ts.Type)
			if ts.Paused {
				p.Paused[ts.Type] = true
			}
		}
		for _, pr := range st.Processes {
			for _, n := range pr.TaskNames {
				if !slices.Contains(p.Names, n) {
					p.Names = append(p.Names, n)
				}
			}
		}
		slices.Sort(p.Names)
	}
}

// taskPage is the data of a task's page.
type taskPage struct {
	Task  *backie.TaskRecord
	State backie.TaskState
	// Process is the live process that holds the task or ran its last
	// attempt, when it is still alive.
	Process *backie.Process
	// What the state allows.
	CanRetry, CanCancel, CanDelete bool
	RetryLabel                     string
	TypePaused                     bool
	// CancelRequested is true for a running task whose cancellation waits
	// for its attempt to return.
	CancelRequested bool
}

func (h *Handler) task(w http.ResponseWriter, r *http.Request) {
	id, ok := h.parseID(w, r)
	if !ok {
		return
	}
	t, err := h.backend.FindTask(r.Context(), id)
	if errors.Is(err, backie.ErrNotFound) {
		h.renderError(w, r, http.StatusNotFound, "Task not found",
			"No task has the id "+id.String()+". It may have been deleted, or removed after it finished (see the worker pools' Retention).")
		return
	}
	if err != nil {
		h.backendError(w, r, "read task "+id.String(), err)
		return
	}
	p := &taskPage{Task: t, State: t.State()}
	switch p.State {
	case backie.StateReady:
		p.CanCancel, p.CanDelete = true, true
	case backie.StateScheduled:
		p.CanRetry, p.CanCancel, p.CanDelete, p.RetryLabel = true, true, true, "Run now"
	case backie.StateRunning:
		// A running task that was cancelled ends when its attempt returns.
		p.CancelRequested = t.CancelledAt != nil
		p.CanCancel = !p.CancelRequested
	case backie.StateDone, backie.StateFailed, backie.StateCancelled:
		p.CanRetry, p.CanDelete, p.RetryLabel = true, true, "Retry"
	}
	if paused, err := h.backend.PausedTypes(r.Context()); err == nil {
		p.TypePaused = slices.ContainsFunc(paused, func(pt backie.PausedType) bool { return pt.Type == t.Type })
	} else if r.Context().Err() == nil {
		h.cfg.Logger.WarnContext(r.Context(), "backieui: read the paused types for a task's page", "error", err)
	}
	if t.ProcessID != nil {
		if procs, err := h.backend.Processes(r.Context()); err == nil {
			for i := range procs {
				if procs[i].ID == *t.ProcessID {
					p.Process = &procs[i]
				}
			}
		} else if r.Context().Err() == nil {
			h.cfg.Logger.WarnContext(r.Context(), "backieui: read the processes for a task's page", "error", err)
		}
	}
	v := h.newView(w, r, "tasks", "Task "+shortID(t.ID), p)
	h.render(w, r, http.StatusOK, "task", v)
}

// parseID reads the task id of the path, or renders the 404 page.
func (h *Handler) parseID(w http.ResponseWriter, r *http.Request) (backie.TaskID, bool) {
	raw := r.PathValue("id")
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		h.renderError(w, r, http.StatusNotFound, "Task not found",
			"“"+raw+"” is not a task id. Task ids are UUIDs, like 0193a5b2-7c1e-7d3f-9a41-3f5c2b8e4c1f.")
		return uuid.UUID{}, false
	}
	return id, true
}

// processesPage is the data of the processes page.
type processesPage struct {
	Processes        []backie.Process
	Workers, Running int
}

func (h *Handler) processes(w http.ResponseWriter, r *http.Request) {
	procs, err := h.backend.Processes(r.Context())
	if err != nil {
		h.backendError(w, r, "read the processes", err)
		return
	}
	procs = slices.Clone(procs)
	slices.SortFunc(procs, func(a, b backie.Process) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.PID, b.PID))
	})
	p := &processesPage{Processes: procs}
	for _, pr := range procs {
		p.Workers += pr.Workers
		p.Running += pr.Running
	}
	v := h.newView(w, r, "processes", "Processes", p)
	v.RefreshMS = h.refreshMS()
	h.render(w, r, http.StatusOK, "processes", v)
}
