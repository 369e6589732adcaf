package backie_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// planCase is one hot-path statement with literal arguments for EXECUTE.
type planCase struct {
	name  string
	sql   string
	args  string
	index string // the index the plan must be driven by
	// sorts says the plan may sort: the claim of a few types sorts what
	// its per-type scans locked, at most a claim's worth per type.
	sorts bool
}

// claimArgs are the claim's arguments after the types: 25 tasks, no pool
// timeout, a process id, the four priorities and their cursors (from the
// head of the queue, or after a cursor).
const (
	claimTail       = `25, NULL, '00000000-0000-7000-8000-0000000000aa', '{1,2,3,4}'`
	claimFromHead   = claimTail + `, '{-infinity,-infinity,-infinity,-infinity}', '{00000000-0000-0000-0000-000000000000,00000000-0000-0000-0000-000000000000,00000000-0000-0000-0000-000000000000,00000000-0000-0000-0000-000000000000}'`
	claimFromCursor = claimTail + `, ARRAY[now() - interval '1 hour', now() - interval '1 hour', '-infinity', '-infinity']::timestamptz[], '{00000000-0000-7000-8000-000000000000,00000000-0000-7000-8000-000000000000,00000000-0000-0000-0000-000000000000,00000000-0000-0000-0000-000000000000}'`
)

var planCases = []planCase{
	{"claim", backie.ClaimSQLForTest, `('{wp_task}', NULL, ` + claimFromHead + `)`, "backie_tasks_claim_idx", false},
	{"claim after cursor", backie.ClaimSQLForTest, `('{wp_task}', NULL, ` + claimFromCursor + `)`,
		"backie_tasks_claim_idx", false},
	{"claim, one type", backie.ClaimOneTypeSQLForTest, `('{wp_task}', '{email}', ` + claimFromHead + `)`,
		"backie_tasks_type_claim_idx", false},
	{"claim, one type, after cursor", backie.ClaimOneTypeSQLForTest, `('{wp_task}', '{email}', ` + claimFromCursor + `)`,
		"backie_tasks_type_claim_idx", false},
	{"claim, a few types", backie.ClaimTypesSQLForTest, `('{wp_task}', '{bulk,email}', ` + claimFromHead + `)`,
		"backie_tasks_type_claim_idx", true},
	{"claim, a few types, after cursor", backie.ClaimTypesSQLForTest, `('{wp_task}', '{bulk,email}', ` + claimFromCursor + `)`,
		"backie_tasks_type_claim_idx", true},
	{"finish: delete", backie.CompleteDeleteSQLForTest,
		`('{00000000-0000-7000-8000-000000000001}', '{1}')`, "backie_tasks_pkey", false},
	{"finish: update", backie.CompleteUpdateSQLForTest,
		`('{00000000-0000-7000-8000-000000000001}', '{1}', '{false}', '{false}', '{null}', '{1}', '{1000}')`, "backie_tasks_pkey", false},
}

// planOf returns the plan Postgres makes for c under the pool's plan
// settings: the generic plan, the one a connection keeps for the statement.
func planOf(t *testing.T, db *pgxpool.Pool, c planCase) string {
	t.Helper()
	ctx := context.Background()
	var plan strings.Builder
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// As on a server that compiles every plan with JIT: the plan settings
		// must turn it off.
		if _, err := tx.Exec(ctx, `SET LOCAL jit = on; SET LOCAL jit_above_cost = 0`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, backie.PlanSQLForTest); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `PREPARE backie_plan_test AS `+c.sql); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `EXPLAIN EXECUTE backie_plan_test`+c.args)
		if err != nil {
			return err
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		plan.WriteString(strings.Join(lines, "\n"))
		_, err = tx.Exec(ctx, `DEALLOCATE backie_plan_test`)
		return err
	})
	require.NoError(t, err, c.name)
	return plan.String()
}

// TestHotPathPlans: claims and finishing writes run on generic plans, made
// once per connection and kept whatever the table becomes. Such a plan must
// be driven by an index, never read or sort the whole table, both when it
// is made on an empty table (a pool started before its first task), never
// analysed or analysed, and on a large analysed one.
func TestHotPathPlans(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t, dbtest.Options{MaxConns: 2})
	check := func(when string) {
		for _, c := range planCases {
			plan := planOf(t, db, c)
			require.Contains(t, plan, "Index Scan using "+c.index, "%s, %s:\n%s", c.name, when, plan)
			bad := []string{"Seq Scan", "Bitmap", "Hash", "Merge", "Materialize", "JIT"}
			if !c.sorts {
				bad = append(bad, "Sort")
			}
			if c.index == "backie_tasks_type_claim_idx" {
				// A claim by type must never walk the queue of every type.
				bad = append(bad, "backie_tasks_claim_idx ")
			}
			for _, b := range bad {
				require.NotContains(t, plan, b, "%s, %s:\n%s", c.name, when, plan)
			}
		}
	}
	check("empty table, never analysed")
	_, err := db.Exec(context.Background(), `VACUUM ANALYZE backie_tasks`)
	require.NoError(t, err)
	check("empty table, analysed")

	env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error { return nil })
	tasks := make([]*wpTask, 20000)
	for i := range tasks {
		tasks[i] = env.task(i)
	}
	for chunk := range slices.Chunk(tasks, 5000) {
		env.create(t, chunk...)
	}
	_, err = db.Exec(context.Background(), `ANALYZE backie_tasks`)
	require.NoError(t, err)
	check("20,000 tasks, analysed")
}

// TestPlanSettingsDoNotLeak: the plan settings last only for the
// transaction of the claim or the write they are sent with; the caller's
// connections keep their own.
func TestPlanSettingsDoNotLeak(t *testing.T) {
	t.Parallel()
	const conns = 4
	db := dbtest.Pool(t, dbtest.Options{MaxConns: conns})
	done := make(chan struct{}, 200)
	env := wpNewEnv(t, db, func(context.Context, backie.Queue, *wpTask) error {
		done <- struct{}{}
		return nil
	})
	tasks := make([]*wpTask, cap(done))
	for i := range tasks {
		tasks[i] = env.task(i)
	}
	env.create(t, tasks...)
	wp, stop := wpStart(t, env.q, backie.Config{Workers: 8})
	for range cap(done) {
		wpRecv(t, done, "a task to run")
	}
	env.eventuallyEmpty(t)
	stop()
	wpStopped(t, wp)

	ctx := context.Background()
	held := make([]*pgxpool.Conn, 0, conns)
	defer func() {
		for _, c := range held {
			c.Release()
		}
	}()
	for range conns { // every connection the pool has, each once
		c, err := db.Acquire(ctx)
		require.NoError(t, err)
		held = append(held, c)
		var mode, seqscan, sort string
		require.NoError(t, c.QueryRow(ctx, `SELECT current_setting('plan_cache_mode'),
			current_setting('enable_seqscan'), current_setting('enable_sort')`).Scan(&mode, &seqscan, &sort))
		require.Equal(t, []string{"auto", "on", "on"}, []string{mode, seqscan, sort})
	}
}
