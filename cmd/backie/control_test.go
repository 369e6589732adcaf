package main

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
)

// results is the --json output of retry, cancel and delete.
type results struct {
	Results []taskResult `json:"results"`
}

func TestRetryCancelDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	s := e.seed()

	// Retry: failed and cancelled tasks are ready again, in the table.
	r := e.run("retry", s.failed.ID.String(), s.cancelled.ID.String())
	require.Equal(t, 0, r.code, "%s", r)
	assert.Equal(t, s.failed.ID.String()+"  retried: now ready\n"+s.cancelled.ID.String()+"  retried: now ready\n", r.stdout)
	assert.Equal(t, backie.StateReady, e.find(s.failed.ID).State())
	assert.Equal(t, backie.StateReady, e.find(s.cancelled.ID).State())
	var res results
	e.runJSON(&res, "retry", s.scheduled.ID.String())
	assert.Equal(t, []taskResult{{ID: s.scheduled.ID, OK: true, State: backie.StateReady}}, res.Results)
	assert.Equal(t, backie.StateReady, e.find(s.scheduled.ID).State())

	// Cancel: ready tasks are cancelled; a finished one is not, which
	// fails the command.
	r = e.run("cancel", s.ready[0].ID.String(), s.done.ID.String())
	assert.Equal(t, exitFailed, r.code, "%s", r)
	assert.Equal(t, s.ready[0].ID.String()+"  cancelled: now cancelled\n"+
		s.done.ID.String()+"  not cancelled: task is finished: it is done\n", r.stdout)
	assert.Equal(t, "backie: 1 of 2 tasks could not be cancelled\n", r.stderr)
	assert.Equal(t, backie.StateCancelled, e.find(s.ready[0].ID).State())
	assert.Equal(t, backie.StateDone, e.find(s.done.ID).State())

	// Delete: gone from the table; deleting again is not found.
	res = results{}
	e.runJSON(&res, "delete", s.ready[1].ID.String(), s.ready[2].ID.String())
	assert.Equal(t, []taskResult{{ID: s.ready[1].ID, OK: true}, {ID: s.ready[2].ID, OK: true}}, res.Results)
	for _, rec := range s.ready[1:3] {
		_, err := e.q.FindTask(context.Background(), rec.ID)
		assert.ErrorIs(t, err, backie.ErrNotFound)
	}
	r = e.run("delete", s.ready[1].ID.String())
	assert.Equal(t, exitNotFound, r.code, "%s", r)
	assert.Equal(t, s.ready[1].ID.String()+"  not deleted: not found\n", r.stdout)
	assert.Equal(t, "backie: no task has id "+s.ready[1].ID.String()+"\n", r.stderr)

	// Known and unknown ids: exit 1, and each id's result in JSON.
	unknown := uuid.Must(uuid.NewV7())
	r = e.run("--json", "delete", unknown.String(), s.ready[3].ID.String())
	assert.Equal(t, exitFailed, r.code, "%s", r)
	res = results{}
	require.NoError(t, jsonUnmarshal(r.stdout, &res))
	assert.Equal(t, []taskResult{
		{ID: unknown, OK: false, Error: "not found", Kind: "not_found"},
		{ID: s.ready[3].ID, OK: true},
	}, res.Results)
	assert.JSONEq(t, `{"error":"backie: 1 of 2 tasks could not be deleted","kind":"failed","exit_code":1}`, r.stderr)

	// A malformed id changes nothing, not even the good ids before it.
	r = e.run("delete", s.ready[4].ID.String(), s.ready[4].ID.String()[:35])
	assert.Equal(t, exitUsage, r.code, "%s", r)
	assert.Equal(t, backie.StateReady, e.find(s.ready[4].ID).State())
	r = e.run("cancel", "{"+s.ready[4].ID.String()+"}")
	assert.Equal(t, exitUsage, r.code, "%s", r)
	assert.Equal(t, backie.StateReady, e.find(s.ready[4].ID).State())
}

// A running task cannot be retried; cancelling it asks its pool.
func TestControlRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	running := e.startRunning()

	r := e.run("retry", running.ID.String())
	assert.Equal(t, exitFailed, r.code, "%s", r)
	assert.Equal(t, running.ID.String()+"  not retried: task is running: cancel it first\n", r.stdout)
	assert.Equal(t, backie.StateRunning, e.find(running.ID).State())

	r = e.run("cancel", running.ID.String())
	require.Equal(t, 0, r.code, "%s", r)
	assert.Equal(t, running.ID.String()+"  cancel requested: it is running, and is cancelled when its attempt returns\n", r.stdout)
	rec := e.find(running.ID)
	assert.Equal(t, backie.StateRunning, rec.State())
	assert.NotNil(t, rec.CancelledAt)

	var res results
	e.runJSON(&res, "cancel", running.ID.String())
	assert.Equal(t, []taskResult{{ID: running.ID, OK: true, State: backie.StateRunning}}, res.Results)
}

func TestPurge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	s := e.seed()
	e.exec(`UPDATE backie_tasks SET done_at = now() - interval '8 days' WHERE id = $1`, s.crashed.ID)

	r := e.run("purge", "--state", "failed", "--older-than", "168h")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Equal(t, "Purged 1 failed task that finished over 7d ago.\n", r.stdout)
	_, err := e.q.FindTask(context.Background(), s.crashed.ID)
	assert.ErrorIs(t, err, backie.ErrNotFound)
	assert.Equal(t, backie.StateFailed, e.find(s.failed.ID).State(), "finished less than 7 days ago")

	var out struct {
		State       string `json:"state"`
		OlderThanMS int64  `json:"older_than_ms"`
		Purged      int64  `json:"purged"`
	}
	e.runJSON(&out, "purge", "--state", "done", "--older-than", "1d12h")
	assert.Equal(t, "done", out.State)
	assert.Equal(t, int64(36*3600*1000), out.OlderThanMS)
	assert.Equal(t, int64(0), out.Purged)
	r = e.run("purge", "--state", "cancelled", "--older-than", "0")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Equal(t, "Purged 1 cancelled task.\n", r.stdout)
	_, err = e.q.FindTask(context.Background(), s.cancelled.ID)
	assert.ErrorIs(t, err, backie.ErrNotFound)
	for _, rec := range s.ready {
		assert.Equal(t, backie.StateReady, e.find(rec.ID).State(), "purge leaves unfinished tasks")
	}
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	hostile := `it's "quoted"; DROP TABLE backie_tasks; --`

	r := e.run("paused")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Equal(t, "No type is paused.\n", r.stdout)

	r = e.run("pause", "email")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Equal(t, "Type email paused: pools claim none of its tasks until `backie resume`.\n", r.stdout)
	var p struct {
		Type   string `json:"type"`
		Paused bool   `json:"paused"`
	}
	e.runJSON(&p, "pause", hostile)
	assert.Equal(t, hostile, p.Type)
	assert.True(t, p.Paused)
	r = e.run("pause", "email") // again: no change
	require.Equal(t, 0, r.code, "%s", r)

	paused, err := e.q.PausedTypes(context.Background())
	require.NoError(t, err)
	require.Len(t, paused, 2)
	r = e.run("paused")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Regexp(t, `^TYPE +PAUSED\n`, r.stdout)
	assert.Contains(t, r.stdout, "email ")
	assert.Contains(t, r.stdout, hostile+"  ")
	var list struct {
		Paused []pausedJSON `json:"paused"`
	}
	e.runJSON(&list, "paused")
	require.Len(t, list.Paused, 2)
	assert.ElementsMatch(t, []backie.TaskType{"email", backie.TaskType(hostile)}, []backie.TaskType{list.Paused[0].Type, list.Paused[1].Type})
	assert.WithinDuration(t, paused[0].PausedAt, list.Paused[0].PausedAt, 0)

	r = e.run("resume", hostile)
	require.Equal(t, 0, r.code, "%s", r)
	assert.Equal(t, "Type "+hostile+" resumed: pools claim its tasks again.\n", r.stdout)
	e.runJSON(&p, "resume", "email")
	assert.False(t, p.Paused)
	e.runJSON(&list, "paused")
	assert.Empty(t, list.Paused)
	paused, err = e.q.PausedTypes(context.Background())
	require.NoError(t, err)
	assert.Empty(t, paused)
}
