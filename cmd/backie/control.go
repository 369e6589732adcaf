package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/backie-go/backie"
)

func (a *app) retryCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "retry ID...",
		Short: "Make tasks ready to run now (failed, cancelled, done or scheduled ones)",
		Long: `retry makes each task ready to run now: a failed, cancelled or done task runs
again, a scheduled one does not wait for its time. Its retries stay as they
were. A running task cannot be retried: cancel it first.`,
		Args: minArgs(1, "one or more task ids"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.eachTask(cmd, args, "retry", "retried", func(ctx context.Context, q *backie.PgQueue, id backie.TaskID) (*backie.TaskRecord, error) {
				return q.RetryTask(ctx, id)
			})
		},
	}
}

func (a *app) cancelCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID...",
		Short: "Cancel tasks that have not finished",
		Long: `cancel cancels each task: a ready or scheduled task is cancelled at once; a
running one is cancelled by its pool, which cancels its context, and is
cancelled when its attempt returns. A finished task cannot be cancelled.`,
		Args: minArgs(1, "one or more task ids"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.eachTask(cmd, args, "cancel", "cancelled", func(ctx context.Context, q *backie.PgQueue, id backie.TaskID) (*backie.TaskRecord, error) {
				return q.CancelTask(ctx, id)
			})
		},
	}
}

func (a *app) deleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID...",
		Short: "Delete tasks, whatever their state",
		Long: `delete deletes each task, whatever its state; a worker running it can no
longer record how it ended.`,
		Args: minArgs(1, "one or more task ids"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.eachTask(cmd, args, "delete", "deleted", func(ctx context.Context, q *backie.PgQueue, id backie.TaskID) (*backie.TaskRecord, error) {
				return nil, q.RemoveTask(ctx, id)
			})
		},
	}
}

// taskResult is what retry, cancel or delete did to one task.
type taskResult struct {
	ID    backie.TaskID    `json:"id"`
	OK    bool             `json:"ok"`
	State backie.TaskState `json:"state,omitempty"` // afterwards; "" once deleted
	Error string           `json:"error,omitempty"`
	Kind  string           `json:"kind,omitempty"` // of the error: not_found, failed…
}

// eachTask does op to each task of args, in order, and reports each. It
// fails with exit code 5 when every id is unknown, 1 when any other failed;
// an id that is not a UUID fails the command before any task is touched.
func (a *app) eachTask(cmd *cobra.Command, args []string, verb, done string,
	op func(context.Context, *backie.PgQueue, backie.TaskID) (*backie.TaskRecord, error),
) error {
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
	results := make([]taskResult, 0, len(ids))
	notFound, failed := 0, 0
	for _, id := range ids {
		rec, err := op(ctx, q, id)
		res := taskResult{ID: id, OK: err == nil}
		switch code := exitCode(err); {
		case err == nil:
			if rec != nil {
				res.State = rec.State()
			}
		case code == exitNotFound:
			notFound++
			res.Error, res.Kind = "not found", exitKinds[code]
		case code == exitFailed:
			failed++
			res.Error, res.Kind = taskError(err, id), exitKinds[code]
		default:
			// The database is gone, or the tables are: the same for every
			// task left, so stop here.
			return err
		}
		results = append(results, res)
	}
	err = a.emit(struct {
		Results []taskResult `json:"results"`
	}{results}, func(w io.Writer) {
		tw := newTable(w)
		for _, r := range results {
			switch {
			case !r.OK:
				fmt.Fprintf(tw, "%s\tnot %s: %s\n", r.ID, done, r.Error)
			case r.State == backie.StateRunning && verb == "cancel":
				fmt.Fprintf(tw, "%s\tcancel requested: it is running, and is cancelled when its attempt returns\n", r.ID)
			case r.State != "":
				fmt.Fprintf(tw, "%s\t%s: now %s\n", r.ID, done, r.State)
			default:
				fmt.Fprintf(tw, "%s\t%s\n", r.ID, done)
			}
		}
		_ = tw.Flush()
	})
	if err != nil {
		return err
	}
	switch {
	case notFound == len(ids):
		if len(ids) == 1 {
			return &cliError{code: exitNotFound, msg: fmt.Sprintf("no task has id %s", ids[0])}
		}
		return &cliError{code: exitNotFound, msg: fmt.Sprintf("no task has any of the %d ids", len(ids))}
	case notFound+failed > 0:
		return failedf("%d of %s could not be %s", notFound+failed, plural(int64(len(ids)), "task", "tasks"), done)
	}
	return nil
}

// taskError is err's message without the library's "backie: op id: ".
func taskError(err error, id backie.TaskID) string {
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, id.String()+": "); ok {
		msg = after
	}
	return msg
}

func (a *app) purgeCommand() *cobra.Command {
	var state, olderThan string
	cmd := &cobra.Command{
		Use:   "purge --state done|failed|cancelled --older-than AGE",
		Short: "Delete the finished tasks of a state that finished over an age ago",
		Long: `purge deletes the done, failed or cancelled tasks that finished more than
--older-than ago (30m, 12h, 7d, 1d12h; 0 for all of them) and prints how
many.`,
		Example: `  backie purge --state done --older-than 7d
  backie purge --state failed --older-than 30d`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := parseState(state, false)
			if err != nil || (st != backie.StateDone && st != backie.StateFailed && st != backie.StateCancelled) {
				return usageErrorf("--state %q: purge takes done, failed or cancelled", state)
			}
			if olderThan == "" {
				return usageErrorf("--older-than is required (30m, 12h, 7d; 0 for every %s task)", st)
			}
			age, err := parseAge(olderThan)
			if err != nil {
				return usageErrorf("--older-than: %v", err)
			}
			ctx, cancel := a.context(cmd)
			defer cancel()
			q, err := a.connect(ctx)
			if err != nil {
				return err
			}
			n, err := q.PurgeTasks(ctx, st, age)
			if err != nil {
				return err
			}
			return a.emit(struct {
				State       backie.TaskState `json:"state"`
				OlderThanMS int64            `json:"older_than_ms"`
				Purged      int64            `json:"purged"`
			}{st, age.Milliseconds(), n}, func(w io.Writer) {
				what := plural(n, string(st)+" task", string(st)+" tasks")
				if age == 0 {
					fmt.Fprintf(w, "Purged %s.\n", what)
					return
				}
				fmt.Fprintf(w, "Purged %s that finished over %s ago.\n", what, short(age))
			})
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "done, failed or cancelled (required)")
	cmd.Flags().StringVar(&olderThan, "older-than", "", "how long ago they finished, at least: 30m, 12h, 7d (required)")
	return cmd
}

func (a *app) pauseCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "pause TYPE",
		Short: "Stop every pool from claiming tasks of a type, until resume",
		Long: `pause stops every worker pool, in every process, from claiming tasks of the
type, until backie resume TYPE (across restarts). Running tasks finish;
new tasks of the type are enqueued and wait.`,
		Args: exactArgs(1, "one task type"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.pauseResume(cmd, backie.TaskType(args[0]), true)
		},
	}
}

func (a *app) resumeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "resume TYPE",
		Short: "Let the pools claim tasks of a paused type again",
		Args:  exactArgs(1, "one task type"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.pauseResume(cmd, backie.TaskType(args[0]), false)
		},
	}
}

func (a *app) pauseResume(cmd *cobra.Command, t backie.TaskType, pause bool) error {
	ctx, cancel := a.context(cmd)
	defer cancel()
	q, err := a.connect(ctx)
	if err != nil {
		return err
	}
	if pause {
		err = q.PauseType(ctx, t)
	} else {
		err = q.ResumeType(ctx, t)
	}
	if errors.Is(err, backie.ErrInvalidTaskType) {
		return usageErrorf("%q is not a task type: %v", string(t), err)
	}
	if err != nil {
		return err
	}
	return a.emit(struct {
		Type   backie.TaskType `json:"type"`
		Paused bool            `json:"paused"`
	}{t, pause}, func(w io.Writer) {
		if pause {
			fmt.Fprintf(w, "Type %s paused: pools claim none of its tasks until `backie resume`.\n", clean(string(t)))
		} else {
			fmt.Fprintf(w, "Type %s resumed: pools claim its tasks again.\n", clean(string(t)))
		}
	})
}

func (a *app) pausedCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "paused",
		Short: "List the paused task types",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.context(cmd)
			defer cancel()
			q, err := a.connect(ctx)
			if err != nil {
				return err
			}
			ps, err := q.PausedTypes(ctx)
			if err != nil {
				return err
			}
			now := time.Now()
			return a.emit(struct {
				Paused []pausedJSON `json:"paused"`
			}{toPausedJSON(ps)}, func(w io.Writer) {
				if len(ps) == 0 {
					fmt.Fprintln(w, "No type is paused.")
					return
				}
				tw := newTable(w)
				fmt.Fprintln(tw, "TYPE\tPAUSED")
				for _, p := range ps {
					fmt.Fprintf(tw, "%s\t%s\n", clean(string(p.Type)), when(&p.PausedAt, now))
				}
				_ = tw.Flush()
			})
		},
	}
}
