package backie

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

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
	for shape, name := range shapes {
		path := filepath.Join("testdata", "sql", name+".sql")
		got := claimSQL[shape] + "\n"
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
