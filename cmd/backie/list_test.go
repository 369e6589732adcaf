package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
)

// page is the --json output of list.
type page struct {
	Tasks []taskJSON `json:"tasks"`
	Next  string     `json:"next"`
}

// ids are the ids of tasks, in order.
func ids(tasks []taskJSON) []string {
	out := make([]string, len(tasks))
	for i, t := range tasks {
		out[i] = t.ID.String()
	}
	return out
}

func recIDs(recs ...*backie.TaskRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID.String()
	}
	return out
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	s := e.seed()
	email0, urgent, email2, sms0, sms1 := s.ready[0], s.ready[1], s.ready[2], s.ready[3], s.ready[4]

	list := func(args ...string) page {
		t.Helper()
		var p page
		e.runJSON(&p, append([]string{"list"}, args...)...)
		return p
	}
	// Every task, newest first (by creation).
	all := list()
	assert.Equal(t, recIDs(s.cancelled, s.scheduled, sms1, sms0, email2, urgent, email0, s.crashed, s.failed, s.done), ids(all.Tasks))
	assert.Empty(t, all.Next)

	for _, c := range []struct {
		args []string
		want []*backie.TaskRecord
	}{
		{[]string{"--state", "ready", "--oldest"}, []*backie.TaskRecord{email0, urgent, email2, sms0, sms1}},
		{[]string{"--state", "all", "--type", "sms"}, []*backie.TaskRecord{sms1, sms0}},
		{[]string{"--state", "ready", "--type", "email", "--oldest"}, []*backie.TaskRecord{email0, urgent, email2}},
		{[]string{"--type", "sms,billing"}, []*backie.TaskRecord{sms1, sms0, s.failed}},
		{[]string{"--type", "sms", "--type", "crashy"}, []*backie.TaskRecord{sms1, sms0, s.crashed}},
		{[]string{"--name", "charge_card,crash"}, []*backie.TaskRecord{s.crashed, s.failed}},
		{[]string{"--priority", "urgent"}, []*backie.TaskRecord{urgent}},
		{[]string{"--priority", "1", "--priority", "4"}, []*backie.TaskRecord{sms1, urgent}},
		{[]string{"--state", "failed"}, []*backie.TaskRecord{s.crashed, s.failed}},
		{[]string{"--state", "done"}, []*backie.TaskRecord{s.done}},
		{[]string{"--state", "cancelled"}, []*backie.TaskRecord{s.cancelled}},
		{[]string{"--state", "scheduled"}, []*backie.TaskRecord{s.scheduled}},
		{[]string{"--state", "scheduled", "--from", "+30m", "--to", "+2h"}, []*backie.TaskRecord{s.scheduled}},
		{[]string{"--state", "scheduled", "--to", "+30m"}, nil},
		{[]string{"--state", "failed", "--from", "1h"}, []*backie.TaskRecord{s.crashed, s.failed}},
		{[]string{"--state", "failed", "--from", time.Now().Add(time.Minute).Format(time.RFC3339)}, nil},
		{[]string{"--state", "done", "--to", "2000-01-01"}, nil},
		{[]string{"--type", `o'neil "quoted"`}, nil},
	} {
		got := list(c.args...)
		assert.Equal(t, recIDs(c.want...), ids(got.Tasks), "%q", c.args)
		assert.Empty(t, got.Next, "%q", c.args)
	}

	// A task in --json output has every field.
	failed := list("--state", "failed", "--name", "charge_card").Tasks
	require.Len(t, failed, 1)
	f := failed[0]
	assert.Equal(t, backie.StateFailed, f.State)
	assert.Equal(t, "charge_card", f.Name)
	assert.Equal(t, backie.TaskType("billing"), f.Type)
	assert.JSONEq(t, `{"invoice":"INV-1"}`, string(f.Payload))
	require.NotNil(t, f.Error)
	assert.Equal(t, "charge invoice: card_declined", f.Error.Message)
	assert.True(t, f.Error.Permanent)
	assert.NotNil(t, f.DoneAt)
	assert.Equal(t, 1, f.Attempt)
	assert.Equal(t, int64(2*time.Minute/time.Millisecond), f.TimeoutMS)
}

// Pages follow the cursor that list prints, in the table and in JSON,
// and together hold every task once.
func TestListPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	var want []*backie.TaskRecord
	for range 7 {
		want = append(want, e.create(&mailTask{To: "page@example.com", Typ: "email"}))
	}

	// JSON: next until it is empty.
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5, "too many pages")
		args := []string{"list", "--state", "ready", "--oldest", "--limit", "3"}
		if cursor != "" {
			args = append(args, "--cursor", cursor)
		}
		var p page
		e.runJSON(&p, args...)
		got = append(got, ids(p.Tasks)...)
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	assert.Equal(t, recIDs(want...), got)

	// The table: the last line gives the cursor.
	next := regexp.MustCompile(`next page: --cursor (\S+)\n$`)
	got = nil
	cursor = ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5, "too many pages")
		args := []string{"list", "--type", "email", "--limit", "2"}
		if cursor != "" {
			args = append(args, "--cursor", cursor)
		}
		r := e.run(args...)
		require.Equal(t, 0, r.code, "%s", r)
		for _, rec := range want {
			if strings.Contains(r.stdout, rec.ID.String()) {
				got = append(got, rec.ID.String())
			}
		}
		m := next.FindStringSubmatch(r.stdout)
		if m == nil {
			assert.True(t, strings.HasSuffix(r.stdout, "shown; last page.\n") || strings.HasSuffix(r.stdout, "No more tasks.\n"), "%s", r.stdout)
			break
		}
		cursor = m[1]
	}
	slices.Sort(got)
	wantIDs := recIDs(want...)
	slices.Sort(wantIDs)
	assert.Equal(t, wantIDs, got)
}

// Names and types with quotes, newlines and escape sequences are found by
// the filters and shown escaped in the table.
func TestListHostile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	quoted := e.create(&mailTask{To: "q@example.com", Typ: `o'neil "quoted"`})
	comma := e.create(&mailTask{To: "c@example.com", Typ: `a,b\c`})
	evil := e.create(&mailTask{To: "e@example.com", Typ: "line\nbreak\x1b[31mred"})

	var p page
	e.runJSON(&p, "list", "--type", `o'neil "quoted"`)
	assert.Equal(t, recIDs(quoted), ids(p.Tasks))
	e.runJSON(&p, "list", "--type", `a\,b\\c`)
	assert.Equal(t, recIDs(comma), ids(p.Tasks))
	e.runJSON(&p, "list", "--type", "line\nbreak\x1b[31mred")
	assert.Equal(t, recIDs(evil), ids(p.Tasks))
	assert.Equal(t, backie.TaskType("line\nbreak\x1b[31mred"), p.Tasks[0].Type, "JSON keeps the value")

	r := e.run("list")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stdout, `o'neil "quoted"`)
	assert.Contains(t, r.stdout, `"line\nbreak\x1b[31mred"`)
	assert.NotContains(t, r.stdout, "\x1b", "no escape sequence reaches the terminal")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	assert.Len(t, lines, 1+3+2, "a header, a line per task, a blank line and the count:\n%s", r.stdout)
}
