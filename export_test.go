package backie

// SQL the external tests check the plans of.
var (
	PlanSQLForTest           = sqlPlanSettings
	ClaimSQLForTest          = claimSQL[claimShapeAnyType][0]
	ClaimAfterSQLForTest     = claimSQL[claimShapeAnyType][1]
	ClaimOneTypeSQLForTest   = claimSQL[claimShapeOneType][0]
	ClaimOneTypeAfterForTest = claimSQL[claimShapeOneType][1]
	ClaimTypesSQLForTest     = claimSQL[claimShapeEachType][0]
	ClaimTypesAfterForTest   = claimSQL[claimShapeEachType][1]
	ClaimTypesMaxForTest     = claimTypesMax
	CompleteDeleteSQLForTest = sqlFinishDelete
	CompleteUpdateSQLForTest = sqlFinishUpdate
)

// SetAfterFinishForTest makes every pool on q call f after each write of
// finished attempts. Set it before starting pools.
func SetAfterFinishForTest(q *PgQueue, f func()) { q.afterFinish = f }
