package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/backie-go/backie"
)

func (a *app) statsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Show tasks by state and type, lag, paused types, live pools and throughput",
		Long: `stats shows the counts of tasks by state and by type, the lag of each type
(how long its oldest ready task has waited), the paused types, the live
worker pools and the leader, the task names due for over a minute that no
live pool serves, and the attempts finished over the last hour.

The counts are the leader's last count (every few seconds); with no pool
running, stats counts the tasks itself, which reads the whole table.`,
		Args: noArgs,
		RunE: a.stats,
	}
}

// countsJSON are counts by state in --json output.
type countsJSON struct {
	Ready     int64 `json:"ready"`
	Scheduled int64 `json:"scheduled"`
	Running   int64 `json:"running"`
	Done      int64 `json:"done"`
	Failed    int64 `json:"failed"`
	Cancelled int64 `json:"cancelled"`
	Total     int64 `json:"total"`
}

func toCountsJSON(c backie.StateCounts) countsJSON {
	return countsJSON{c.Ready, c.Scheduled, c.Running, c.Done, c.Failed, c.Cancelled, c.Total()}
}

// pausedJSON is a paused type in --json output.
type pausedJSON struct {
	Type     backie.TaskType `json:"type"`
	PausedAt time.Time       `json:"paused_at"`
}

func toPausedJSON(ps []backie.PausedType) []pausedJSON {
	out := make([]pausedJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, pausedJSON{p.Type, p.PausedAt})
	}
	return out
}

// statsJSON is the --json output of stats.
type statsJSON struct {
	CountedAt  *time.Time     `json:"counted_at"` // null: there is no task to count
	Totals     countsJSON     `json:"totals"`
	Types      []typeJSON     `json:"types"`
	Paused     []pausedJSON   `json:"paused"`
	Processes  []processJSON  `json:"processes"`
	Unserved   []unservedJSON `json:"unserved"`
	Throughput struct {
		// Done, Failed and Retried sum the last hour.
		Done    int64        `json:"done"`
		Failed  int64        `json:"failed"`
		Retried int64        `json:"retried"`
		Minutes []minuteJSON `json:"minutes"`
	} `json:"throughput"`
}

type processJSON struct {
	ID          uuid.UUID         `json:"id"`
	Host        string            `json:"host"`
	PID         int               `json:"pid"`
	TaskNames   []string          `json:"task_names"`
	TaskTypes   []backie.TaskType `json:"task_types"` // null: every type
	Workers     int               `json:"workers"`
	Running     int               `json:"running"`
	StartedAt   time.Time         `json:"started_at"`
	HeartbeatAt time.Time         `json:"heartbeat_at"`
	Leader      bool              `json:"leader"`
}

type unservedJSON struct {
	Name     string          `json:"name"`
	Type     backie.TaskType `json:"type"`
	Count    int64           `json:"count"`
	DueForMS int64           `json:"due_for_ms"`
}

type typeJSON struct {
	Type backie.TaskType `json:"type"`
	countsJSON
	LagMS  int64 `json:"lag_ms"`
	Paused bool  `json:"paused"`
}

type minuteJSON struct {
	Minute  time.Time `json:"minute"`
	Done    int64     `json:"done"`
	Failed  int64     `json:"failed"`
	Retried int64     `json:"retried"`
}

func (a *app) stats(cmd *cobra.Command, _ []string) error {
	ctx, cancel := a.context(cmd)
	defer cancel()
	q, err := a.connect(ctx)
	if err != nil {
		return err
	}
	st, err := q.Stats(ctx)
	if err != nil {
		return err
	}
	now := time.Now()

	var out statsJSON
	if !st.CountedAt.IsZero() {
		out.CountedAt = &st.CountedAt
	}
	out.Totals = toCountsJSON(st.Totals)
	out.Types = make([]typeJSON, 0, len(st.Types))
	for _, t := range st.Types {
		out.Types = append(out.Types, typeJSON{t.Type, toCountsJSON(t.StateCounts), t.Lag.Milliseconds(), t.Paused})
	}
	out.Paused = toPausedJSON(st.Paused)
	out.Processes = make([]processJSON, 0, len(st.Processes))
	for _, p := range st.Processes {
		out.Processes = append(out.Processes, processJSON{p.ID, p.Host, p.PID, p.TaskNames, p.TaskTypes, p.Workers,
			p.Running, p.StartedAt, p.HeartbeatAt, p.Leader})
	}
	out.Unserved = make([]unservedJSON, 0, len(st.Unserved))
	for _, u := range st.Unserved {
		out.Unserved = append(out.Unserved, unservedJSON{u.Name, u.Type, u.Count, u.DueFor.Milliseconds()})
	}
	out.Throughput.Minutes = make([]minuteJSON, 0, len(st.Throughput))
	for _, m := range st.Throughput {
		out.Throughput.Done += m.Done
		out.Throughput.Failed += m.Failed
		out.Throughput.Retried += m.Retried
		out.Throughput.Minutes = append(out.Throughput.Minutes, minuteJSON{m.Minute, m.Done, m.Failed, m.Retried})
	}
	return a.emit(out, func(w io.Writer) { printStats(w, st, now) })
}

func printStats(w io.Writer, st *backie.Stats, now time.Time) {
	tw := newTable(w)
	fmt.Fprintln(tw, "STATE\tTASKS")
	for _, s := range backie.AllStates {
		fmt.Fprintf(tw, "%s\t%d\n", s, st.Totals.Of(s))
	}
	fmt.Fprintf(tw, "total\t%d\n", st.Totals.Total())
	_ = tw.Flush()
	if !st.CountedAt.IsZero() { // zero: there is no task to count
		fmt.Fprintf(w, "(counted %s)\n", ago(st.CountedAt, now))
	}
	fmt.Fprintln(w)

	if len(st.Types) == 0 {
		fmt.Fprintln(w, "No tasks.")
	} else {
		paused := map[backie.TaskType]time.Time{}
		for _, p := range st.Paused {
			paused[p.Type] = p.PausedAt
		}
		tw = newTable(w)
		fmt.Fprintln(tw, "TYPE\tREADY\tSCHEDULED\tRUNNING\tDONE\tFAILED\tCANCELLED\tLAG\tPAUSED")
		for _, t := range st.Types {
			lag, pause := "-", ""
			if t.Lag > 0 {
				lag = short(t.Lag)
			}
			if t.Paused {
				pause = "paused " + ago(paused[t.Type], now)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", clean(string(t.Type)), t.Ready, t.Scheduled, t.Running,
				t.Done, t.Failed, t.Cancelled, lag, pause)
		}
		_ = tw.Flush()
	}
	fmt.Fprintln(w)

	if len(st.Processes) == 0 {
		fmt.Fprintln(w, "No live worker pool.")
	} else {
		fmt.Fprintf(w, "%s:\n", plural(int64(len(st.Processes)), "live worker pool", "live worker pools"))
		tw = newTable(w)
		fmt.Fprintln(tw, "ID\tHOST\tPID\tWORKERS\tRUNNING\tSTARTED\tHEARTBEAT\tLEADER\tSERVES")
		for _, p := range st.Processes {
			leader := ""
			if p.Leader {
				leader = "leader"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", p.ID, clean(p.Host), p.PID, p.Workers, p.Running,
				ago(p.StartedAt, now), ago(p.HeartbeatAt, now), leader, serves(p))
		}
		_ = tw.Flush()
	}

	if len(st.Unserved) > 0 {
		fmt.Fprintln(w, "\nDue for over a minute, and no live pool serves them (register the name in a pool):")
		tw = newTable(w)
		fmt.Fprintln(tw, "NAME\tTYPE\tTASKS\tDUE FOR")
		for _, u := range st.Unserved {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", clean(u.Name), clean(string(u.Type)), u.Count, short(u.DueFor))
		}
		_ = tw.Flush()
	}

	var done, failed, retried int64
	var busiest backie.Throughput
	for _, m := range st.Throughput {
		done, failed, retried = done+m.Done, failed+m.Failed, retried+m.Retried
		if m.Done+m.Failed+m.Retried > busiest.Done+busiest.Failed+busiest.Retried {
			busiest = m
		}
	}
	fmt.Fprintf(w, "\nLast hour: %d done, %d failed, %d retried", done, failed, retried)
	if n := busiest.Done + busiest.Failed + busiest.Retried; n > 0 {
		fmt.Fprintf(w, " (busiest minute: %d attempts at %s)", n, busiest.Minute.Local().Format("15:04"))
	}
	fmt.Fprintln(w, ".")
}

// serves writes the names and types a pool serves, briefly.
func serves(p backie.Process) string {
	names := make([]string, len(p.TaskNames))
	for i, n := range p.TaskNames {
		names[i] = clean(n)
	}
	s := cleanLine(strings.Join(names, ","), 60)
	if p.TaskTypes == nil {
		return s + " (every type)"
	}
	types := make([]string, len(p.TaskTypes))
	for i, t := range p.TaskTypes {
		types[i] = clean(string(t))
	}
	return s + " (types " + cleanLine(strings.Join(types, ","), 40) + ")"
}
