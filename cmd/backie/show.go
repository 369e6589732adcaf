package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/backie-go/backie"
)

func (a *app) showCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show every field of a task, its payload and its last error with its stack",
		Args:  exactArgs(1, "one task id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			ctx, cancel := a.context(cmd)
			defer cancel()
			q, err := a.connect(ctx)
			if err != nil {
				return err
			}
			rec, err := q.FindTask(ctx, ids[0])
			if err != nil {
				return notFound(ids[0], err)
			}
			now := time.Now()
			return a.emit(toTaskJSON(rec, now), func(w io.Writer) { printTask(w, rec, now) })
		},
	}
}

// notFound is err, said plainly when it is ErrNotFound.
func notFound(id backie.TaskID, err error) error {
	if exitCode(err) == exitNotFound {
		return &cliError{code: exitNotFound, msg: fmt.Sprintf("no task has id %s", id), err: err}
	}
	return err
}

func printTask(w io.Writer, r *backie.TaskRecord, now time.Time) {
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("ID", r.ID.String())
	row("State", string(r.StateAt(now)))
	row("Name", clean(r.Name))
	row("Type", clean(string(r.Type)))
	row("Priority", priorityLabel(r.Priority))
	if r.UniqHash != "" {
		row("Uniq hash", clean(string(r.UniqHash)))
	} else {
		row("Uniq hash", "- (not unique)")
	}
	row("Created", when(&r.CreatedAt, now))
	row("Scheduled", when(&r.ScheduledAt, now))
	row("Running", when(r.RunningAt, now))
	row("Done", when(r.DoneAt, now))
	row("Cancelled", when(r.CancelledAt, now))
	row("Retries", fmt.Sprintf("%d of %d", r.Retries, r.MaxRetries))
	row("Attempts", fmt.Sprintf("%d", r.Attempt))
	row("Timeout", r.Timeout.String())
	if r.ProcessID != nil {
		row("Process", r.ProcessID.String())
	} else {
		row("Process", "-")
	}
	if len(r.Metadata) == 0 {
		row("Metadata", "-")
	}
	for i, k := range slices.Sorted(maps.Keys(r.Metadata)) {
		key := ""
		if i == 0 {
			key = "Metadata"
		}
		row(key, clean(k)+"="+clean(r.Metadata[k]))
	}
	_ = tw.Flush()

	fmt.Fprintln(w, "\nPayload:")
	var pretty bytes.Buffer
	if json.Indent(&pretty, r.Payload, "  ", "  ") != nil {
		pretty.Reset()
		pretty.Write(r.Payload)
	}
	fmt.Fprintf(w, "  %s\n", pretty.String())

	if e := r.Error; e != nil {
		how := []string{string(e.Kind)}
		if e.Permanent {
			how = append(how, "permanent")
		}
		how = append(how, fmt.Sprintf("after %s", plural(int64(e.Retries), "retry", "retries")))
		if !e.At.IsZero() {
			how = append(how, ago(e.At, now))
		}
		fmt.Fprintf(w, "\nLast error (%s):\n", strings.Join(how, ", "))
		fmt.Fprintln(w, indent(e.Message))
		if e.Stack != "" {
			fmt.Fprintln(w, "\nStack:")
			fmt.Fprintln(w, indent(e.Stack))
		}
	}
}

// indent indents each line of a multi-line text, with control characters
// other than newlines and tabs escaped.
func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l = strings.ReplaceAll(l, "\t", "    "); l != "" {
			l = clean(l)
		}
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}
