package backie

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
