package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
)

func TestStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)

	// No task yet: zero counts, no pool.
	r := e.run("stats")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stdout, "total      0\n")
	assert.Contains(t, r.stdout, "No tasks.\n")
	assert.Contains(t, r.stdout, "No live worker pool.\n")
	assert.Contains(t, r.stdout, "Last hour: 0 done, 0 failed, 0 retried.\n")
	var st statsJSON
	e.runJSON(&st, "stats")
	assert.Equal(t, countsJSON{}, st.Totals)
	assert.Empty(t, st.Types)
	assert.Empty(t, st.Processes)

	e.seed()
	// Due for two minutes, of a type no pool serves.
	e.create(&mailTask{To: "late@example.com", Typ: "email"}, backie.RunAt(time.Now().Add(-2*time.Minute)))
	require.NoError(t, e.q.PauseType(context.Background(), "sms"))
	e.exec(`INSERT INTO backie_throughput (minute, process_id, done, failed, retried) VALUES (date_trunc('minute', now()), $1, 30, 2, 5)`,
		uuid.Must(uuid.NewV7()))
	leader := e.startIdlePool()

	e.runJSON(&st, "stats")
	assert.Equal(t, countsJSON{Ready: 6, Scheduled: 1, Done: 1, Failed: 2, Cancelled: 1, Total: 11}, st.Totals)
	require.NotNil(t, st.CountedAt)
	byType := map[backie.TaskType]typeJSON{}
	for _, ts := range st.Types {
		byType[ts.Type] = ts
	}
	assert.Equal(t, countsJSON{Ready: 4, Scheduled: 1, Done: 1, Cancelled: 1, Total: 7}, byType["email"].countsJSON)
	assert.GreaterOrEqual(t, byType["email"].LagMS, int64(2*time.Minute/time.Millisecond))
	assert.False(t, byType["email"].Paused)
	assert.Equal(t, int64(2), byType["sms"].Ready)
	assert.True(t, byType["sms"].Paused)
	assert.Equal(t, int64(1), byType["billing"].Failed)
	assert.Equal(t, int64(1), byType["crashy"].Failed)
	require.Len(t, st.Paused, 1)
	assert.Equal(t, backie.TaskType("sms"), st.Paused[0].Type)
	require.Len(t, st.Processes, 1)
	assert.Equal(t, leader, st.Processes[0].ID)
	assert.True(t, st.Processes[0].Leader)
	assert.Equal(t, []backie.TaskType{"idle"}, st.Processes[0].TaskTypes)
	require.Len(t, st.Unserved, 1)
	// Every ready task of the name and type counts, when the oldest is due
	// for over a minute.
	assert.Equal(t, unservedJSON{Name: "send_mail", Type: "email", Count: 4, DueForMS: st.Unserved[0].DueForMS}, st.Unserved[0])
	assert.GreaterOrEqual(t, st.Unserved[0].DueForMS, int64(2*time.Minute/time.Millisecond))
	assert.Equal(t, []int64{30, 2, 5}, []int64{st.Throughput.Done, st.Throughput.Failed, st.Throughput.Retried})
	require.Len(t, st.Throughput.Minutes, 1)

	r = e.run("stats")
	require.Equal(t, 0, r.code, "%s", r)
	t.Logf("backie stats:\n%s", r.stdout)
	for _, want := range []string{
		"STATE      TASKS\nready      6\nscheduled  1\nrunning    0\ndone       1\nfailed     2\ncancelled  1\ntotal      11\n(counted ",
		"TYPE     READY  SCHEDULED  RUNNING  DONE  FAILED  CANCELLED  LAG   PAUSED\n",
		"billing  0      0          0        0     1       0          -",
		"sms      2      0          0        0     0       0          ",
		"paused ",
		"1 live worker pool:\nID ",
		leader.String(),
		"leader",
		"block,charge_card,crash,send_mail (types idle)",
		"Due for over a minute, and no live pool serves them (register the name in a pool):\nNAME       TYPE   TASKS  DUE FOR\nsend_mail  email  4      2m",
		"Last hour: 30 done, 2 failed, 5 retried (busiest minute: 37 attempts at ",
	} {
		assert.Contains(t, r.stdout, want)
	}
	assert.Regexp(t, `email +4 +1 +0 +1 +0 +1 +2m\d*s?\n`, r.stdout)
}

// startIdlePool starts a worker pool that serves only the type "idle", so
// it claims none of the test's tasks, and waits until it leads. It stops
// when the test ends.
func (e *env) startIdlePool() uuid.UUID {
	e.t.Helper()
	pool, err := backie.NewWorkerPool(e.q, backie.Config{
		TaskTypes:         []backie.TaskType{"idle"},
		HeartbeatInterval: 100 * time.Millisecond,
		HeartbeatTimeout:  2 * time.Second,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(e.t, pool.Start(ctx))
	e.t.Cleanup(func() {
		cancel()
		stop, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer stopCancel()
		if err := pool.Shutdown(stop); err != nil {
			e.t.Errorf("stop the pool: %v", err)
		}
	})
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		procs, err := e.q.Processes(context.Background())
		require.NoError(e.t, err)
		if len(procs) == 1 && procs[0].Leader {
			return procs[0].ID
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the pool did not lead within a minute: %+v", procs)
		}
		<-tick.C
	}
}
