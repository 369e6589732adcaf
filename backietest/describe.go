package backietest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/backie-go/backie"
)

// This file writes the tasks that failure messages show.

// payloadShownMax is how much of a payload a listing shows, in bytes.
const payloadShownMax = 200

// listRecent lists the newest tasks of src for a failure message, marking
// with * those in matched.
func listRecent(tb testing.TB, src source, matched []*backie.TaskRecord) (string, error) {
	tb.Helper()
	recs, more, err := src.recent(tb.Context(), listedTasksMax)
	if err != nil {
		return "", err
	}
	if len(recs) == 0 {
		return "nothing was enqueued", nil
	}
	marked := make(map[backie.TaskID]bool, len(matched))
	for _, r := range matched {
		marked[r.ID] = true
	}
	head := fmt.Sprintf("enqueued instead (%d task%s, oldest first):", len(recs), plural(len(recs)))
	if more {
		head = fmt.Sprintf("enqueued instead (the %d newest tasks, oldest first):", len(recs))
	}
	if len(matched) > 0 {
		head = strings.Replace(head, "instead", "(* matches)", 1)
	}
	return head + "\n" + listing(recs, src.now(), len(matched) > 0, marked), nil
}

// listing writes recs as a table: name, type, state at now, priority,
// scheduled_at and payload; with mark, a first column has * for the ids in
// marked.
func listing(recs []*backie.TaskRecord, now time.Time, mark bool, marked map[backie.TaskID]bool) string {
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	prefix := func(r *backie.TaskRecord) string {
		switch {
		case !mark:
			return "  "
		case marked[r.ID]:
			return "* "
		default:
			return "  "
		}
	}
	fmt.Fprintln(w, "  NAME\tTYPE\tSTATE\tPRIORITY\tSCHEDULED_AT\tPAYLOAD")
	for _, r := range recs {
		fmt.Fprintf(w, "%s%s\t%s\t%s\t%d\t%s\t%s\n", prefix(r), r.Name, r.Type, r.StateAt(now), r.Priority,
			formatTime(r.ScheduledAt), shorten(compact(r.Payload), payloadShownMax))
	}
	_ = w.Flush() // writes to a buffer
	return strings.TrimRight(b.String(), "\n")
}

// compact returns the JSON payload without the spaces jsonb adds.
func compact(payload []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, payload); err != nil {
		return string(payload)
	}
	return b.String()
}

// formatTime writes t in UTC to the microsecond, as PostgreSQL keeps it.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

// shorten cuts s to at most n bytes, on a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
