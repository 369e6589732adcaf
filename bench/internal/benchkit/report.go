package benchkit

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes res as one JSON line.
func WriteJSON(w io.Writer, res Result) error {
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteTable writes results as an aligned table.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tn\tworkers\tpools\twork ms\tseconds\ttasks/s\tp50 ms\tp95 ms\tp99 ms\tmax ms\t")
	for _, r := range results {
		dash := func(v float64, format string) string {
			if v == 0 {
				return "-"
			}
			return fmt.Sprintf(format, v)
		}
		workers, pools := "-", "-"
		if r.Pools > 0 {
			workers, pools = fmt.Sprint(r.Workers), fmt.Sprint(r.Pools)
		}
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
				r.Workload, r.N, workers, pools, fmt.Sprintf("%g", r.WorkMS), "FAILED", "-", "-", "-", "-", "-")
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%.2f\t%.0f\t%s\t%s\t%s\t%s\t\n",
			r.Workload, r.N, workers, pools, fmt.Sprintf("%g", r.WorkMS), r.Seconds, r.TasksPerSec,
			dash(r.P50MS, "%.2f"), dash(r.P95MS, "%.2f"), dash(r.P99MS, "%.2f"), dash(r.MaxMS, "%.2f"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Notes: what the columns do not say.
	for _, r := range results {
		if note := Note(r); note != "" {
			if _, err := fmt.Fprintf(w, "  %-8s %s\n", r.Workload+":", note); err != nil {
				return err
			}
		}
	}
	return nil
}

// Note says in words what the table's columns leave out for r.
func Note(r Result) string {
	var parts []string
	add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
	if r.Error != "" {
		return "ERROR: " + r.Error
	}
	// A workload run with backieotel's middleware is named "<workload>+otel".
	switch strings.TrimSuffix(r.Workload, "+otel") {
	case "drain":
		add("pre-insert %.2fs in batches of %d; %.0f tasks/s between 10%% and 90%% done", r.InsertSeconds, r.BatchSize,
			r.MiddleTasksPerSec)
	case "enqueue":
		add("%d goroutines; CreateTask p50 %.2f ms, p99 %.2f ms, max %.2f ms", r.Goroutines, r.CallP50MS, r.CallP99MS, r.CallMaxMS)
	case "batch":
		add("batches of %d; CreateTasks p50 %.2f ms, p99 %.2f ms, max %.2f ms", r.BatchSize, r.CallP50MS, r.CallP99MS, r.CallMaxMS)
	case "latency":
		add("%g/s for %gs by %d producers (achieved %.1f/s); %d/%d completed at %.1f/s; pickup latency enqueue → Run",
			r.Rate, r.DurationS, r.Goroutines, r.EnqueueRate, r.Completed, r.Enqueued, r.CompletionRate)
	case "scheduled":
		add("%g/s for %gs by %d producers (achieved %.1f/s), each due %g–%g ms later; %d/%d completed; start latency scheduled_at → Run",
			r.Rate, r.DurationS, r.Goroutines, r.EnqueueRate, r.DelayMinMS, r.DelayMaxMS, r.Completed, r.Enqueued)
	}
	if r.Pools > 0 {
		notify := "notify on"
		if r.Notify != nil && !*r.Notify {
			notify = "notify off"
		}
		own := ""
		if r.OwnPgxPool {
			own = ", own pgxpool each"
		}
		add("%s, poll %gms, %s%s", r.Retention, r.PollMS, notify, own)
		if r.Types > 0 {
			add("tasks of %d types, each pool serving them all", r.Types)
		}
		if r.Low > 0 {
			add("behind %d due tasks of the lowest priority (%d of them ran)", r.Low, r.LowRan)
		}
		if r.Other > 0 {
			add("behind %d due tasks of a type no pool serves", r.Other)
		}
	}
	if len(r.Runs) > 1 {
		add("median of %d runs", len(r.Runs))
	}
	return strings.Join(parts, "; ")
}
