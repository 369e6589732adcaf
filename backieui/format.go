package backieui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backie-go/backie"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"time":      timeTag,
	"rel":       relTime,
	"abs":       absTime,
	"dur":       duration,
	"num":       number,
	"short":     shortID,
	"priority":  priorityName,
	"json":      prettyJSON,
	"chart":     throughputChart,
	"listTime":  listTime,
	"join":      joinStrings,
	"pct":       percent,
	"stateOf":   func(r *backie.TaskRecord) backie.TaskState { return r.State() },
	"countOf":   func(c backie.StateCounts, s backie.TaskState) int64 { return c.Of(s) },
	"allStates": func() []backie.TaskState { return backie.AllStates },
	"tasksURL": func(s backie.TaskState, t backie.TaskType) string {
		return listQuery{State: s, Types: []backie.TaskType{t}}.url("")
	},
}

// timeTag renders t as a <time> element whose text is relative to now ("3
// min ago", "in 20 s") and whose tooltip is the absolute time; the page's
// script keeps the text current. t is a time.Time or a *time.Time; a zero
// or nil time renders as a dash.
func timeTag(now time.Time, t any) template.HTML {
	var tt time.Time
	switch v := t.(type) {
	case time.Time:
		tt = v
	case *time.Time:
		if v != nil {
			tt = *v
		}
	}
	if tt.IsZero() {
		return `<span class="muted">—</span>`
	}
	return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s">%s</time>`,
		tt.UTC().Format(time.RFC3339Nano), html.EscapeString(absTime(tt)), html.EscapeString(relTime(now, tt))))
}

// absTime is t in UTC, to the millisecond.
func absTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
}

// relTime says how long before or after now t is, in one unit: "just
// now", "12 s ago", "3 min ago", "5 h ago", "2 days ago", "in 4 min".
// The page's script has the same rules (static/app.js).
func relTime(now, t time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		s = fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%d h", int(d/time.Hour))
	default:
		s = fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// duration renders d in at most two units: "850 ms", "12 s", "3 min 20 s",
// "5 h 2 min", "3 days 4 h".
func duration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d == 0:
		return "0 s"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		return twoUnits(int(d/time.Minute), "min", int(d%time.Minute/time.Second), "s")
	case d < 48*time.Hour:
		return twoUnits(int(d/time.Hour), "h", int(d%time.Hour/time.Minute), "min")
	default:
		return twoUnits(int(d/(24*time.Hour)), "days", int(d%(24*time.Hour)/time.Hour), "h")
	}
}

func twoUnits(a int, ua string, b int, ub string) string {
	if b == 0 {
		return fmt.Sprintf("%d %s", a, ua)
	}
	return fmt.Sprintf("%d %s %d %s", a, ua, b, ub)
}

// number renders n with thousands separators: 1,234,567.
func number(n any) string {
	var v int64
	switch x := n.(type) {
	case int:
		v = int64(x)
	case int64:
		v = x
	default:
		return fmt.Sprint(n)
	}
	s := strconv.FormatInt(v, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// percent is a/b in whole percent, 0 when b is 0.
func percent(a, b int) int {
	if b <= 0 {
		return 0
	}
	return min(100, a*100/b)
}

// shortID shortens an id for tables and messages: its first 8 and last 4
// hex digits. Ids are UUIDv7, whose first digits are a timestamp that
// tasks created together share; the last digits tell them apart.
func shortID(id any) string {
	var s string
	switch v := id.(type) {
	case uuid.UUID:
		s = v.String()
	case *uuid.UUID:
		if v == nil {
			return ""
		}
		s = v.String()
	default:
		s = fmt.Sprint(id)
	}
	if len(s) < 36 {
		return s
	}
	return s[:8] + "…" + s[32:]
}

// priorityName names a priority: "urgent", "default", "low", "lowest".
func priorityName(p int) string {
	switch p {
	case backie.PriorityUrgent:
		return "urgent"
	case backie.PriorityDefault:
		return "default"
	case backie.PriorityLow:
		return "low"
	case backie.PriorityLowest:
		return "lowest"
	}
	return strconv.Itoa(p)
}

// listTime is the time the list shows for a task, and what it means: when
// it is due for ready and scheduled tasks, when its attempt started for
// running ones, when it ended for the others.
func listTime(r *backie.TaskRecord) labelledTime {
	switch r.State() {
	case backie.StateReady:
		return labelledTime{"due", r.ScheduledAt}
	case backie.StateScheduled:
		return labelledTime{"runs", r.ScheduledAt}
	case backie.StateRunning:
		if r.RunningAt != nil {
			return labelledTime{"started", *r.RunningAt}
		}
	case backie.StateCancelled:
		if r.DoneAt != nil {
			return labelledTime{"cancelled", *r.DoneAt}
		}
	case backie.StateDone:
		if r.DoneAt != nil {
			return labelledTime{"finished", *r.DoneAt}
		}
	case backie.StateFailed:
		if r.DoneAt != nil {
			return labelledTime{"failed", *r.DoneAt}
		}
	}
	return labelledTime{"created", r.CreatedAt}
}

// labelledTime is a time and what it is.
type labelledTime struct {
	Label string
	At    time.Time
}

func joinStrings(sep string, v any) string {
	switch x := v.(type) {
	case []string:
		return strings.Join(x, sep)
	case []backie.TaskType:
		s := make([]string, len(x))
		for i, t := range x {
			s[i] = string(t)
		}
		return strings.Join(s, sep)
	}
	return fmt.Sprint(v)
}

// prettyJSON indents a JSON document and marks up its tokens for colour;
// what is not valid JSON is shown as it is.
func prettyJSON(raw json.RawMessage) template.HTML {
	if len(raw) == 0 {
		return `<span class="muted">(empty)</span>`
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return template.HTML(html.EscapeString(string(raw)))
	}
	return template.HTML(highlightJSON(buf.Bytes()))
}

// highlightJSON wraps the strings, numbers and literals of valid, indented
// JSON in spans: j-key for object keys, j-str, j-num and j-lit.
func highlightJSON(b []byte) string {
	var out strings.Builder
	span := func(class string, s []byte) {
		out.WriteString(`<span class="`)
		out.WriteString(class)
		out.WriteString(`">`)
		out.WriteString(html.EscapeString(string(s)))
		out.WriteString(`</span>`)
	}
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(b))
			k := j
			for k < len(b) && (b[k] == ' ' || b[k] == '\n') {
				k++
			}
			if k < len(b) && b[k] == ':' {
				span("j-key", b[i:j])
			} else {
				span("j-str", b[i:j])
			}
			i = j
		case c == '-' || (c >= '0' && c <= '9'):
			j := i
			for j < len(b) && strings.IndexByte("+-.eE0123456789", b[j]) >= 0 {
				j++
			}
			span("j-num", b[i:j])
			i = j
		case c == 't' || c == 'f' || c == 'n':
			j := i
			for j < len(b) && b[j] >= 'a' && b[j] <= 'z' {
				j++
			}
			span("j-lit", b[i:j])
			i = j
		default:
			out.WriteString(html.EscapeString(string(b[i : i+1])))
			i++
		}
	}
	return out.String()
}
