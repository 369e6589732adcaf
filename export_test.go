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
