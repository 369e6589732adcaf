package backie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/backie-go/backie/migrations"
)

// MigrateConfig tunes Migrate. Its zero value migrates the schema that the
// pool's connections use (their current_schema()).
type MigrateConfig struct {
	// Schema, when set, is created if missing and receives backie_tasks and
	// the migrations table, whatever the pool's search_path. Defaults to "".
	Schema string
	// MigrationsTable is golang-migrate's version table. Defaults to
	// "backie_schema_migrations", so it does not collide with an
	// application's own golang-migrate table.
	MigrationsTable string
	// Version migrates up or down to this version; 0 means the latest.
	// Defaults to 0.
	Version uint
}

// MigrationsTableDefault is the default MigrateConfig.MigrationsTable.
const MigrationsTableDefault = "backie_schema_migrations"

// Migrate applies Backie's migrations (package migrations) on the caller's
// pool with golang-migrate, holding its advisory lock so that many
// processes may call it at start-up. It is a no-op when the schema is up to
// date. Cancelling ctx abandons the wait for the lock and the migration in
// progress (golang-migrate's graceful stop).
func Migrate(ctx context.Context, pool *pgxpool.Pool, cfg MigrateConfig) error {
	if pool == nil {
		return fmt.Errorf("backie: migrate: %w: nil pool", ErrInvalidConfig)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("backie: migrate: %w", err)
	}
	if cfg.MigrationsTable == "" {
		cfg.MigrationsTable = MigrationsTableDefault
	}
	if cfg.Schema != "" {
		if _, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{cfg.Schema}.Sanitize()); err != nil {
			return interpretError("backie: migrate: create schema", err)
		}
	}

	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return fmt.Errorf("backie: migrate: %w", err)
	}
	var srcDriver source.Driver = src
	if cfg.Schema != "" {
		srcDriver = &schemaSource{Driver: src, schema: cfg.Schema}
	}

	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	dbDriver, err := migratepgx.WithInstance(db, &migratepgx.Config{
		MigrationsTable: cfg.MigrationsTable,
		SchemaName:      cfg.Schema,
	})
	if err != nil {
		return interpretError("backie: migrate", err)
	}
	m, err := migrate.NewWithInstance("iofs", srcDriver, "pgx5", dbDriver)
	if err != nil {
		return fmt.Errorf("backie: migrate: %w", err)
	}
	defer m.Close()

	stop := context.AfterFunc(ctx, func() {
		select {
		case m.GracefulStop <- true:
		default:
		}
	})
	defer stop()
	if cfg.Version == 0 {
		err = m.Up()
	} else {
		err = m.Migrate(cfg.Version)
	}
	if errors.Is(err, migrate.ErrNoChange) {
		err = nil
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return interpretError("backie: migrate", err)
	}
	return nil
}

// schemaSource runs every migration with search_path set to one schema.
// golang-migrate sends a file as one simple-protocol query, which Postgres
// runs as one implicit transaction, so SET LOCAL lasts exactly as long as
// the file and the pooled connection is left as it was.
type schemaSource struct {
	source.Driver
	schema string
}

func (s *schemaSource) wrap(r io.ReadCloser, id string, err error) (io.ReadCloser, string, error) {
	if err != nil {
		return r, id, err
	}
	defer r.Close()
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, "", err
	}
	prefix := "SET LOCAL search_path TO " + pgx.Identifier{s.schema}.Sanitize() + ";\n"
	return io.NopCloser(bytes.NewReader(append([]byte(prefix), body...))), id, nil
}

func (s *schemaSource) ReadUp(version uint) (io.ReadCloser, string, error) {
	r, id, err := s.Driver.ReadUp(version)
	return s.wrap(r, id, err)
}

func (s *schemaSource) ReadDown(version uint) (io.ReadCloser, string, error) {
	r, id, err := s.Driver.ReadDown(version)
	return s.wrap(r, id, err)
}
