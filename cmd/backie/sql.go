package main

import "github.com/jackc/pgx/v5"

// The command's own statements; everything else goes through the library.
const (
	// sqlCurrentSchema is the schema Backie's tables are looked for in
	// (NULL when no schema of the search_path exists) and the search_path.
	sqlCurrentSchema = `SELECT current_schema(), current_setting('search_path')`

	// sqlVersionTableExists says whether golang-migrate's version table $2
	// exists in schema $1.
	sqlVersionTableExists = `SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL`
)

// sqlVersion reads golang-migrate's version table table in schema: one row,
// or none before the first migration and after the last one is reverted.
func sqlVersion(schema, table string) string {
	return `SELECT version, dirty FROM ` + pgx.Identifier{schema, table}.Sanitize() + ` LIMIT 1`
}
