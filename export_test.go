package backie

// SQL the external tests check the plans of.
var (
	PlanSQLForTest           = planSQL
	ClaimSQLForTest          = claimSQL
	ClaimAfterSQLForTest     = claimAfterSQL
	ClaimOneTypeSQLForTest   = claimOneTypeSQL
	ClaimOneTypeAfterForTest = claimOneTypeAfterSQL
	ClaimTypesSQLForTest     = claimTypesSQL
	ClaimTypesAfterForTest   = claimTypesAfterSQL
	ClaimTypesMaxForTest     = claimTypesMax
	CompleteDeleteSQLForTest = completeDeleteSQL
	CompleteUpdateSQLForTest = completeUpdateSQL
)
