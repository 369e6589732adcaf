package backie_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// A malformed schedule, a duplicate name or a task type the registry does
// not know is refused when the pool is configured, naming the periodic
// task.
func TestPeriodicConfigErrors(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 2})
	env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error { return nil })
	newTask := func() backie.Task { return env.task(1) }
	every, err := backie.ParseSchedule("@every 10s")
	require.NoError(t, err)
	for name, c := range map[string]struct {
		periodic []backie.PeriodicTask
		want     string
	}{
		"malformed cron": {[]backie.PeriodicTask{{Name: "nightly", Cron: "0 25 * * *", NewTask: newTask}}, `"nightly"`},
		"six fields":     {[]backie.PeriodicTask{{Name: "secs", Cron: "* * * * * *", NewTask: newTask}}, `"secs"`},
		"duplicate": {[]backie.PeriodicTask{{Name: "twice", Cron: "@hourly", NewTask: newTask},
			{Name: "twice", Cron: "@daily", NewTask: newTask}}, `"twice": the name is listed twice`},
		"unregistered": {[]backie.PeriodicTask{{Name: "other", Cron: "@hourly",
			NewTask: func() backie.Task { return &wpOtherTask{} }}}, `"other": task type not registered`},
		"no schedule":   {[]backie.PeriodicTask{{Name: "none", NewTask: newTask}}, `"none": no schedule`},
		"two schedules": {[]backie.PeriodicTask{{Name: "both", Cron: "@hourly", Schedule: every, NewTask: newTask}}, `"both"`},
		"no task":       {[]backie.PeriodicTask{{Name: "empty", Cron: "@hourly"}}, `"empty": NewTask is nil`},
		"no name":       {[]backie.PeriodicTask{{Cron: "@hourly", NewTask: newTask}}, `periodic task ""`},
	} {
		_, err := backie.NewWorkerPool(env.q, backie.Config{Periodic: c.periodic})
		require.ErrorIs(t, err, backie.ErrInvalidConfig, name)
		require.ErrorContains(t, err, c.want, name)
	}
	_, err = backie.ParseSchedule("@every nonsense")
	require.ErrorIs(t, err, backie.ErrInvalidConfig)
	_, err = backie.NewWorkerPool(env.q, backie.Config{Periodic: []backie.PeriodicTask{
		{Name: "a", Cron: "*/5 * * * *", NewTask: newTask}, {Name: "b", Schedule: every, NewTask: newTask},
		{Name: "c", Cron: "@every 30s", NewTask: newTask}, {Name: "d", Cron: "CRON_TZ=Europe/Paris 0 9 * * 1-5", NewTask: newTask},
	}})
	require.NoError(t, err)
}

// periodicTicks returns the scheduled_at of every task of the periodic
// task (its tick), in order.
func periodicTicks(t *testing.T, e *wpEnv) []time.Time {
	t.Helper()
	rows, err := e.cdb.Query(context.Background(),
		`SELECT scheduled_at FROM backie_tasks WHERE payload->>'key' = 'tick' ORDER BY scheduled_at`)
	require.NoError(t, err)
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var at time.Time
		require.NoError(t, rows.Scan(&at))
		out = append(out, at)
	}
	require.NoError(t, rows.Err())
	return out
}

// A tick missed while no pool ran is enqueued once at start (the latest
// one), or not at all with SkipMissed; a new periodic task waits for its
// next tick; RunOnStart enqueues one task however many pools start.
func TestPeriodicMissedTicksAndRunOnStart(t *testing.T) {
	t.Parallel()
	hourly := func(skip, onStart bool) []backie.PeriodicTask {
		return []backie.PeriodicTask{{Name: "hourly", Cron: "0 * * * *", SkipMissed: skip, RunOnStart: onStart,
			NewTask: func() backie.Task { return &wpTask{Key: "tick"} }}}
	}
	setup := func(t *testing.T) *wpEnv {
		db := dbtest.Pool(t, dbtest.Options{MaxConns: 6})
		return wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error { return errors.New("not run here") })
	}
	// A pool that runs nothing, but enqueues: it serves a type no task has.
	start := func(t *testing.T, e *wpEnv, periodic []backie.PeriodicTask) {
		wp, stop := wpStart(t, e.q, backie.Config{Workers: 1, TaskTypes: []backie.TaskType{"nothing"}, Periodic: periodic})
		stop()
		wpStopped(t, wp)
	}
	topOfHour := func(e *wpEnv) time.Time {
		var at time.Time
		require.NoError(t, e.cdb.QueryRow(context.Background(), `SELECT date_trunc('hour', now())`).Scan(&at))
		return at
	}

	t.Run("new: waits for its next tick", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		start(t, e, hourly(false, false))
		require.Empty(t, periodicTicks(t, e))
		require.Equal(t, int64(1), e.count(t, `SELECT count(*) FROM backie_periodic WHERE name = 'hourly' AND last_tick = date_trunc('hour', now())`))
	})
	t.Run("missed: enqueued once", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		start(t, e, hourly(false, false))
		_, err := e.cdb.Exec(context.Background(), `UPDATE backie_periodic SET last_tick = date_trunc('hour', now()) - interval '5 hours'`)
		require.NoError(t, err)
		start(t, e, hourly(false, false))
		start(t, e, hourly(false, false))
		require.Equal(t, []time.Time{topOfHour(e)}, periodicTicks(t, e), "the latest missed tick, once")
	})
	t.Run("missed: skipped", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		start(t, e, hourly(true, false))
		_, err := e.cdb.Exec(context.Background(), `UPDATE backie_periodic SET last_tick = date_trunc('hour', now()) - interval '5 hours'`)
		require.NoError(t, err)
		start(t, e, hourly(true, false))
		require.Empty(t, periodicTicks(t, e))
		require.Equal(t, int64(1), e.count(t, `SELECT count(*) FROM backie_periodic WHERE last_tick = date_trunc('hour', now())`))
	})
	t.Run("run on start: once for pools that start together", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		for range 3 {
			start(t, e, hourly(false, true))
		}
		require.Len(t, periodicTicks(t, e), 1)
	})
}

// TestPeriodicAcrossProcesses: three processes with the same schedule of
// @every 1s for 30 s enqueue one task per tick, 30 ± 1, none for the same
// tick twice, while one of them is killed with SIGKILL midway.
func TestPeriodicAcrossProcesses(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts child processes for 30 s")
	}
	schema := dbtest.Schema(t)
	db := dbtest.PoolFor(t, schema, 4)
	ctx := context.Background()
	require.NoError(t, backie.Migrate(ctx, db, backie.MigrateConfig{}))
	childTables(t, db)
	env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error { return nil })
	spec := childSpec{Schema: schema, Workers: 2, KeepAll: true, Periodic: "@every 1s",
		HeartbeatInterval: 200 * time.Millisecond, HeartbeatTimeout: 2 * time.Second}
	kids := []*child{startChild(t, spec), startChild(t, spec), startChild(t, spec)}
	var from time.Time
	require.NoError(t, db.QueryRow(ctx, `SELECT date_trunc('second', now())`).Scan(&from))

	time.Sleep(15 * time.Second) // the schedule's own pace: ticks must pass
	kids[1].kill(t)
	time.Sleep(15 * time.Second)
	var to time.Time
	require.NoError(t, db.QueryRow(ctx, `SELECT date_trunc('second', now())`).Scan(&to))
	kids[0].stop(t)
	kids[2].stop(t)

	var ticks []time.Time
	for _, at := range periodicTicks(t, env) {
		if !at.Before(from) && at.Before(to) {
			ticks = append(ticks, at)
		}
	}
	seen := map[time.Time]bool{}
	for _, at := range ticks {
		require.False(t, seen[at], "tick %v enqueued twice", at)
		seen[at] = true
		require.True(t, at.Equal(at.Truncate(time.Second)), "tick %v is not on a second", at)
	}
	want := int(to.Sub(from) / time.Second)
	require.InDelta(t, want, len(ticks), 1, "ticks from %v to %v: %d, want %d ± 1", from, to, len(ticks), want)
	t.Logf("%d ticks in %v, from 3 processes, one killed midway", len(ticks), to.Sub(from))
}
