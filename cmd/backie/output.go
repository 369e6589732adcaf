package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/backie-go/backie"
)

// taskJSON is a task in --json output. Times are RFC 3339, durations are
// whole milliseconds (as stored).
type taskJSON struct {
	ID          backie.TaskID     `json:"id"`
	State       backie.TaskState  `json:"state"`
	Name        string            `json:"name"`
	Type        backie.TaskType   `json:"type"`
	Priority    int               `json:"priority"`
	UniqHash    backie.TaskHash   `json:"uniq_hash,omitempty"`
	Payload     json.RawMessage   `json:"payload"`
	TimeoutMS   int64             `json:"timeout_ms"`
	CreatedAt   time.Time         `json:"created_at"`
	ScheduledAt time.Time         `json:"scheduled_at"`
	RunningAt   *time.Time        `json:"running_at"`
	DoneAt      *time.Time        `json:"done_at"`
	CancelledAt *time.Time        `json:"cancelled_at"`
	Retries     int               `json:"retries"`
	MaxRetries  int               `json:"max_retries"`
	Attempt     int               `json:"attempt"`
	ProcessID   *uuid.UUID        `json:"process_id"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Error       *backie.ErrorInfo `json:"error"`
}

func toTaskJSON(r *backie.TaskRecord, now time.Time) taskJSON {
	payload := r.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	return taskJSON{
		ID: r.ID, State: r.StateAt(now), Name: r.Name, Type: r.Type, Priority: r.Priority, UniqHash: r.UniqHash,
		Payload: payload, TimeoutMS: r.Timeout.Milliseconds(), CreatedAt: r.CreatedAt, ScheduledAt: r.ScheduledAt,
		RunningAt: r.RunningAt, DoneAt: r.DoneAt, CancelledAt: r.CancelledAt, Retries: r.Retries,
		MaxRetries: r.MaxRetries, Attempt: r.Attempt, ProcessID: r.ProcessID, Metadata: r.Metadata, Error: r.Error,
	}
}

// newTable returns a writer of a table whose columns are separated by tabs
// and whose lines end with a newline; call Flush when done. The columns are
// aligned with spaces, and lines do not end with spaces.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(&trimWriter{w: w}, 0, 0, 2, ' ', 0)
}

// trimWriter drops the spaces at the end of each line it writes; tabwriter
// pads the cell before an empty last one. It holds back a line until its
// newline, which each line of a table has.
type trimWriter struct {
	w    io.Writer
	line []byte
}

func (t *trimWriter) Write(p []byte) (int, error) {
	for _, b := range p {
		if b != '\n' {
			t.line = append(t.line, b)
			continue
		}
		t.line = append(bytes.TrimRight(t.line, " "), '\n')
		if _, err := t.w.Write(t.line); err != nil {
			return 0, err
		}
		t.line = t.line[:0]
	}
	return len(p), nil
}

// clean makes a value read from the database safe to print in a table on a
// terminal: a value with control characters (a newline, a tab, an escape
// sequence) or invalid UTF-8 is shown quoted, Go style, and "" as "".
func clean(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r == unicode.ReplacementChar || !unicode.IsGraphic(r) || r == '\t' {
			return strconv.Quote(s)
		}
	}
	return s
}

// cleanLine is clean for a long text shown on one line (an error message),
// cut to max runes.
func cleanLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		s = string(r[:max-1]) + "…"
	}
	if s == "" {
		return ""
	}
	return clean(s)
}

// ago writes how long ago (or how far ahead) t is from now, briefly:
// "3m ago", "in 12s", "now".
func ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d > -time.Second && d < time.Second:
		return "now"
	case d < 0:
		return "in " + short(-d)
	}
	return short(d) + " ago"
}

// short writes d in its largest unit or two: "12s", "3m12s", "2h5m", "4d3h".
func short(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return twoUnits(int(d/time.Minute), "m", int(d%time.Minute/time.Second), "s")
	case d < 24*time.Hour:
		return twoUnits(int(d/time.Hour), "h", int(d%time.Hour/time.Minute), "m")
	}
	return twoUnits(int(d/(24*time.Hour)), "d", int(d%(24*time.Hour)/time.Hour), "h")
}

func twoUnits(a int, ua string, b int, ub string) string {
	if b == 0 {
		return fmt.Sprintf("%d%s", a, ua)
	}
	return fmt.Sprintf("%d%s%d%s", a, ua, b, ub)
}

// when writes a time exactly, in local time, and how long ago it is.
func when(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	return fmt.Sprintf("%s (%s)", t.Local().Format("2006-01-02 15:04:05.000 MST"), ago(*t, now))
}

// priorityLabel writes a priority with its name: "2 (default)".
func priorityLabel(p int) string {
	if name, ok := priorityNames[p]; ok {
		return fmt.Sprintf("%d (%s)", p, name)
	}
	return strconv.Itoa(p)
}

// plural writes n and the noun, in the plural unless n is 1.
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
