package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
)

func TestShow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	s := e.seed()

	// A task that panicked: every field, the payload indented, the error
	// with its stack.
	r := e.run("show", s.crashed.ID.String())
	require.Equal(t, 0, r.code, "%s", r)
	for _, want := range []string{
		"ID         " + s.crashed.ID.String() + "\n",
		"State      failed\n",
		"Name       crash\n",
		"Type       crashy\n",
		"Priority   2 (default)\n",
		"Uniq hash  - (not unique)\n",
		"Cancelled  -\n",
		"Retries    0 of 0\n",
		"Attempts   1\n",
		"Timeout    2m0s\n",
		"Payload:\n  {\n    \"note\": \"\"\n  }\n",
		"Last error (panic, after 0 retries, ",
		"\n  task panicked: index out of range [3] with length 3\n",
		"Process    -\n",
		"Metadata   -\n",
		"\nStack:\n  goroutine ",
	} {
		assert.Contains(t, r.stdout, want)
	}
	assert.Regexp(t, `Created    \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \S+ \((now|\d+s ago)\)`, r.stdout)
	assert.Empty(t, r.stderr)

	var got taskJSON
	e.runJSON(&got, "show", s.crashed.ID.String())
	assert.Equal(t, s.crashed.ID, got.ID)
	assert.Equal(t, backie.StateFailed, got.State)
	require.NotNil(t, got.Error)
	assert.Equal(t, backie.ErrorKindPanic, got.Error.Kind)
	assert.Contains(t, got.Error.Stack, "goroutine ")
	assert.JSONEq(t, `{"note":""}`, string(got.Payload))
	assert.Nil(t, got.ProcessID, "RunNext runs it outside a pool")

	// A scheduled task, and the other states.
	r = e.run("show", s.scheduled.ID.String())
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stdout, "State      scheduled\n")
	assert.Regexp(t, `Scheduled  \S+ \S+ \S+ \(in (59m\d*s|1h)\)`, r.stdout)
	assert.Contains(t, r.stdout, "Payload:\n  {\n    \"to\": \"later@example.com\",\n    \"typ\": \"email\"\n  }\n")
	assert.NotContains(t, r.stdout, "Last error")
	for rec, state := range map[*backie.TaskRecord]backie.TaskState{s.done: backie.StateDone, s.cancelled: backie.StateCancelled, s.ready[0]: backie.StateReady} {
		e.runJSON(&got, "show", rec.ID.String())
		assert.Equal(t, state, got.State)
		assert.Equal(t, rec.ID, got.ID)
	}
}

// A type and an error message with control characters are shown escaped,
// and a stack keeps its lines.
func TestShowHostile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	rec := e.create(&mailTask{To: "\x1b]0;pwned\x07", Typ: "tab\there"})
	e.exec(`UPDATE backie_tasks SET done_at = now(), error_info = $2 WHERE id = $1`, rec.ID,
		`{"message":"bad\u001b[2Jthing\nsecond line","kind":"error","stack":"line 1\n\tline 2\u001b[0m","retries":0,"at":"2025-01-01T00:00:00Z"}`)
	r := e.run("show", rec.ID.String())
	require.Equal(t, 0, r.code, "%s", r)
	assert.NotContains(t, r.stdout, "\x1b")
	assert.NotContains(t, r.stdout, "\x07")
	assert.Contains(t, r.stdout, `Type       "tab\there"`)
	assert.Contains(t, r.stdout, `"bad\x1b[2Jthing"`+"\n  second line\n")
	assert.Contains(t, r.stdout, "Stack:\n  line 1\n  "+`"    line 2\x1b[0m"`)
	// The payload is JSON, which escapes control characters.
	assert.Contains(t, r.stdout, `"to": "\u001b]0;pwned\u0007"`)
	assert.Equal(t, 1, strings.Count(r.stdout, "Payload:"))
}
