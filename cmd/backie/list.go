package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/backie-go/backie"
)

func (a *app) listCommand() *cobra.Command {
	var (
		state, from, to, cursor string
		types, names, prios     []string
		oldest                  bool
		limit                   int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tasks by state, type, name, priority and time, a page at a time",
		Long: `list lists tasks, newest first (--oldest: oldest first), a page at a time,
with the dashboard's filters. --type, --name and --priority may repeat or
hold a comma-separated list (a comma inside a value is written \,); a task
matches when it has one of the values.

The list's time is when a ready, scheduled or running task is due, when a
done, failed or cancelled task finished, and when a task was created when
no --state is given; --from and --to bound it (from <= time < to). They
take an RFC 3339 time (2025-01-31T14:00:00Z), a date (2025-01-31), or an
age: 1h is an hour ago, 7d a week ago, +30m half an hour from now.

When there are more tasks, the last line gives the cursor of the next page:
pass it with --cursor and the same filters.`,
		Example: `  backie list --state failed --type email,sms --from 24h
  backie list --state scheduled --to +1h --oldest
  backie list --state failed --limit 100 --cursor eyJrIjoiZCIs...`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := backie.ListFilter{Oldest: oldest, Limit: limit, Cursor: cursor}
			var err error
			if f.State, err = parseState(state, true); err != nil {
				return usageErrorf("--state: %v", err)
			}
			for _, t := range types {
				f.Types = append(f.Types, backie.TaskType(t))
			}
			f.Names = names
			for _, p := range prios {
				level, err := parsePriority(p)
				if err != nil {
					return usageErrorf("--priority: %v", err)
				}
				f.Priorities = append(f.Priorities, level)
			}
			now := time.Now()
			if from != "" {
				if f.From, err = parseTime(from, now); err != nil {
					return usageErrorf("--from: %v", err)
				}
			}
			if to != "" {
				if f.To, err = parseTime(to, now); err != nil {
					return usageErrorf("--to: %v", err)
				}
			}
			if limit < 1 || limit > backie.ListLimitMax {
				return usageErrorf("--limit %d: want 1 to %d", limit, backie.ListLimitMax)
			}
			return a.list(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&state, "state", "", "ready, scheduled, running, done, failed or cancelled (default: every state)")
	fl.Var(stringsFlag{&types}, "type", "task types (repeat, or a comma-separated list)")
	fl.Var(stringsFlag{&names}, "name", "task names (repeat, or a comma-separated list)")
	fl.Var(stringsFlag{&prios}, "priority", "priorities: 1 to 4, or urgent, default, low, lowest (repeat, or a comma-separated list)")
	fl.StringVar(&from, "from", "", "the earliest time, included: RFC 3339, a date, or an age (1h: an hour ago)")
	fl.StringVar(&to, "to", "", "the latest time, excluded: RFC 3339, a date, or an age (+1h: an hour from now)")
	fl.BoolVar(&oldest, "oldest", false, "oldest first")
	fl.IntVar(&limit, "limit", backie.ListLimitDefault, fmt.Sprintf("tasks per page, at most %d", backie.ListLimitMax))
	fl.StringVar(&cursor, "cursor", "", "the cursor of the page to show, from the previous page")
	return cmd
}

func (a *app) list(cmd *cobra.Command, f backie.ListFilter) error {
	ctx, cancel := a.context(cmd)
	defer cancel()
	q, err := a.connect(ctx)
	if err != nil {
		return err
	}
	page, err := q.ListTasks(ctx, f)
	if err != nil {
		return err
	}
	now := time.Now()
	out := struct {
		Tasks []taskJSON `json:"tasks"`
		// Next is the cursor of the next page; "" on the last page.
		Next string `json:"next"`
	}{Tasks: make([]taskJSON, 0, len(page.Tasks)), Next: page.Next}
	for _, r := range page.Tasks {
		out.Tasks = append(out.Tasks, toTaskJSON(r, now))
	}
	return a.emit(out, func(w io.Writer) {
		if len(page.Tasks) == 0 {
			if f.Cursor == "" {
				fmt.Fprintln(w, "No tasks match.")
			} else {
				fmt.Fprintln(w, "No more tasks.")
			}
			return
		}
		tw := newTable(w)
		fmt.Fprintln(tw, "ID\tSTATE\tNAME\tTYPE\tPRIORITY\tRETRIES\tCREATED\tDUE/FINISHED\tERROR")
		for _, r := range page.Tasks {
			at := r.ScheduledAt
			if r.DoneAt != nil {
				at = *r.DoneAt
			}
			msg := ""
			if r.Error != nil {
				msg = cleanLine(r.Error.Message, 60)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", r.ID, r.StateAt(now), clean(r.Name),
				clean(string(r.Type)), priorityNames[r.Priority], r.Retries, r.MaxRetries, ago(r.CreatedAt, now),
				ago(at, now), msg)
		}
		_ = tw.Flush()
		if page.Next != "" {
			fmt.Fprintf(w, "\n%s shown; next page: --cursor %s\n", plural(int64(len(page.Tasks)), "task", "tasks"), page.Next)
		} else {
			fmt.Fprintf(w, "\n%s shown; last page.\n", plural(int64(len(page.Tasks)), "task", "tasks"))
		}
	})
}
