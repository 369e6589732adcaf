package backie

import (
	"context"
	"time"
)

// SQL the external tests check the plans of.
var (
	PlanSQLForTest           = sqlPlanSettings
	ClaimSQLForTest          = claimSQL[claimShapeAnyType]
	ClaimOneTypeSQLForTest   = claimSQL[claimShapeOneType]
	ClaimTypesSQLForTest     = claimSQL[claimShapeEachType]
	ClaimTypesMaxForTest     = claimTypesMax
	CompleteDeleteSQLForTest = sqlFinishDelete
	CompleteUpdateSQLForTest = sqlFinishUpdate
	NextDueSQLForTest        = sqlNextDue
)

// SetAfterFinishForTest makes every pool on q call f after each write of
// finished attempts. Set it before starting pools.
func SetAfterFinishForTest(q *PgQueue, f func()) { q.afterFinish = f }

// ListSQLForTest returns the statement and arguments of ListTasks(f).
func ListSQLForTest(f ListFilter) (string, []any, error) {
	l, err := planList(f)
	if err != nil {
		return "", nil, err
	}
	return l.sql, l.args, nil
}

// InsertWithDelaysForTest inserts tasks in one statement, each due after
// its own delay, as the inserter does when it merges concurrent calls.
func InsertWithDelaysForTest(ctx context.Context, q *PgQueue, tasks []Task, delays []time.Duration) ([]*TaskRecord, error) {
	var a insertArgs
	recs := make([]*TaskRecord, len(tasks))
	for i, t := range tasks {
		o := createOptions{delay: delays[i]}
		rec, err := q.prepare(t, o)
		if err != nil {
			return nil, err
		}
		a.add(rec, o)
		recs[i] = rec
	}
	rows, err := runInsert(ctx, q.pool, a)
	for _, rec := range recs {
		rec.ScheduledAt = rows[rec.ID].scheduledAt
	}
	return recs, err
}
