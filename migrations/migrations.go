// Package migrations embeds the SQL files that create Backie's schema.
//
// The files are numbered golang-migrate migrations (NNNNNN_name.up.sql and
// .down.sql), so the same directory works with the migrate CLI (built with
// the pgx5 driver); use the version table backie.Migrate uses:
//
//	migrate -path migrations \
//	  -database 'pgx5://host/db?x-migrations-table=backie_schema_migrations' up
//
// Go programs usually call backie.Migrate instead, which applies FS.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
