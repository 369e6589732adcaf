package backie

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/sql")

// TestClaimStatementsGolden: the claims are assembled from fragments in
// sql.go; testdata/sql holds their final text, so that a reader sees every
// statement the library sends, and a change to a fragment shows in review
// as a change to the statements it is part of.
func TestClaimStatementsGolden(t *testing.T) {
	shapes := map[claimShape]string{
		claimShapeAnyType:  "claim_any_type",
		claimShapeOneType:  "claim_one_type",
		claimShapeEachType: "claim_each_type",
	}
	statements := map[string]string{"claim_due_by": sqlClaimDueBy}
	for shape, name := range shapes {
		statements[name] = claimSQL[shape]
	}
	for name, sql := range statements {
		path := filepath.Join("testdata", "sql", name+".sql")
		got := sql + "\n"
		if *update {
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			continue
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "run go test -run Golden -update to write it")
		require.Equal(t, string(want), got, "%s differs: run go test -run Golden -update and review the diff", path)
	}
}

// The column list has one source: the claims' RETURNING and the SELECTs
// list recordColumns in the order scanRecord reads.
func TestRecordColumnsOneSource(t *testing.T) {
	require.Equal(t, "t.id, t.task_name", columns("t.")[:len("t.id, t.task_name")])
	for _, sql := range []string{sqlFindTask, sqlFindUnfinishedUnique, sqlRescueTimedOut, sqlHeldBy, sqlCancelTask,
		sqlRetryTask, sqlRescheduleTask} {
		require.Contains(t, sql, columns(""))
	}
	for _, sql := range claimSQL {
		require.Contains(t, sql, "RETURNING "+columns("t."))
	}
}

// TestListStatementsGolden: the list statements are assembled by state and
// filter; testdata/sql/list_*.sql holds the final text of each kind.
func TestListStatementsGolden(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for name, f := range map[string]ListFilter{
		"list_any":                     {},
		"list_any_filtered":            {Types: []TaskType{"mail"}, Names: []string{"send"}, Priorities: []int{1}, From: at, To: at.Add(time.Hour), Oldest: true},
		"list_ready":                   {State: StateReady},
		"list_scheduled_by_type":       {State: StateScheduled, Types: []TaskType{"mail", "sms"}, Oldest: true},
		"list_running":                 {State: StateRunning, Names: []string{"send"}, Priorities: []int{2, 3}},
		"list_done":                    {State: StateDone, From: at},
		"list_failed_by_type_and_name": {State: StateFailed, Types: []TaskType{"mail"}, Names: []string{"send"}},
		"list_cancelled":               {State: StateCancelled, Oldest: true},
	} {
		l, err := planList(f)
		require.NoError(t, err, name)
		path := filepath.Join("testdata", "sql", name+".sql")
		if *update {
			require.NoError(t, os.WriteFile(path, []byte(l.sql+"\n"), 0o644))
			continue
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "run go test -run Golden -update to write it")
		require.Equal(t, string(want), l.sql+"\n", "%s differs: run go test -run Golden -update and review the diff", path)
	}
}
