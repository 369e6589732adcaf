package main

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/backie-go/backie"
)

// parseIDs parses task ids; one that is not a UUID fails them all, before
// anything is done.
func parseIDs(args []string) ([]backie.TaskID, error) {
	ids := make([]backie.TaskID, 0, len(args))
	for _, arg := range args {
		id, err := uuid.Parse(arg)
		if err != nil || len(arg) != 36 {
			return nil, usageErrorf("%q is not a task id: ids are UUIDs such as 0193a5b2-7c1e-7d2f-9a4b-5e6f7a8b9c0d", arg)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// daysRe matches a leading count of days in an age: "7d", "1d12h".
var daysRe = regexp.MustCompile(`^(\d+)d`)

// parseAge parses a duration as Go writes it ("90m", "1h30m") with days
// too ("7d", "1d12h"). It must not be negative.
func parseAge(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	var days time.Duration
	m := daysRe.FindStringSubmatch(in)
	if m != nil {
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > math.MaxInt64/int64(24*time.Hour) {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		in = in[len(m[0]):]
	}
	var d time.Duration
	if in != "" || m == nil {
		var err error
		if d, err = time.ParseDuration(in); err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 30s, 90m, 12h or 7d", s)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	if days > math.MaxInt64-d {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	return days + d, nil
}

// parseTime parses a bound of --from and --to: an RFC 3339 time
// (2025-01-31T14:00:00Z), a date (2025-01-31, midnight local time), "now",
// or an age: 1h means an hour ago, +1h an hour from now.
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "now" {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	rel, future := strings.CutPrefix(s, "+")
	if !future {
		rel = strings.TrimPrefix(rel, "-")
	}
	if d, err := parseAge(rel); err == nil && rel != "" {
		if future {
			return now.Add(d), nil
		}
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a time (2025-01-31T14:00:00Z, 2025-01-31) nor an age (90m ago: 90m; in 2h: +2h)", s)
}

// splitList splits a flag's value on commas; \, is a comma within a value
// and \\ a backslash. Empty values are dropped.
func splitList(s string) []string {
	var (
		out []string
		cur strings.Builder
	)
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && (s[i+1] == ',' || s[i+1] == '\\'):
			i++
			cur.WriteByte(s[i])
		case s[i] == ',':
			if cur.Len() > 0 {
				out = append(out, cur.String())
			}
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// priorityNames are the names of the priorities, by level.
var priorityNames = map[int]string{
	backie.PriorityUrgent:  "urgent",
	backie.PriorityDefault: "default",
	backie.PriorityLow:     "low",
	backie.PriorityLowest:  "lowest",
}

// parsePriority parses a priority: its level (1 to 4) or its name.
func parsePriority(s string) (int, error) {
	for level, name := range priorityNames {
		if s == name || s == strconv.Itoa(level) {
			return level, nil
		}
	}
	return 0, fmt.Errorf("priority %q is not one of 1 (urgent), 2 (default), 3 (low) and 4 (lowest)", s)
}

// parseState parses a state; "" and "all" are every state when all is true.
func parseState(s string, all bool) (backie.TaskState, error) {
	if all && (s == "" || s == "all") {
		return "", nil
	}
	if slices.Contains(backie.AllStates, backie.TaskState(s)) {
		return backie.TaskState(s), nil
	}
	var names []string
	for _, st := range backie.AllStates {
		names = append(names, string(st))
	}
	return "", fmt.Errorf("there is no state %q: the states are %s", s, strings.Join(names, ", "))
}

// shellQuote quotes s for a POSIX shell when it needs it, for the
// commands that error messages suggest.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
