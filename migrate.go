package backie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
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
//
// Without MigrateConfig.Schema, the tables go to the first schema of the
// pool's search_path that exists; when none does, Migrate fails with
// ErrMissingSchema. A database that cannot be reached fails with the
// connection's error, before anything else is tried.
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
	if err := prepareMigrate(ctx, pool, cfg); err != nil {
		return err
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
		return opError("migrate", err)
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
		return opError("migrate", err)
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

// prepareMigrate connects, makes sure there is a schema to migrate
// (creating MigrateConfig.Schema when it is set), and waits, as long as ctx
// allows, until golang-migrate's advisory lock for cfg is free.
// golang-migrate's pgx driver waits for that lock with
// context.Background(), so without this a holder that is stuck would make
// Migrate hang whatever ctx says. The lock is taken and released at once:
// golang-migrate takes it for real right after.
func prepareMigrate(ctx context.Context, pool *pgxpool.Pool, cfg MigrateConfig) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return opError("migrate: connect", err)
	}
	defer conn.Release()
	if cfg.Schema != "" {
		if _, err := conn.Exec(ctx, sqlCreateSchema(cfg.Schema)); err != nil {
			return opError("migrate: create schema", err)
		}
	}
	var (
		dbName string
		schema *string
	)
	if err := conn.QueryRow(ctx, sqlMigrateLockKey).Scan(&dbName, &schema); err != nil {
		return opError("migrate", err)
	}
	if cfg.Schema != "" {
		schema = &cfg.Schema
	}
	if schema == nil {
		var path string
		if err := conn.QueryRow(ctx, sqlSearchPath).Scan(&path); err != nil {
			return opError("migrate", err)
		}
		return fmt.Errorf("backie: migrate: %w: the search_path (%s) names no schema that exists: create the schema, or set MigrateConfig.Schema, which Migrate creates",
			ErrMissingSchema, path)
	}
	aid, err := database.GenerateAdvisoryLockId(dbName, *schema, cfg.MigrationsTable) // as golang-migrate's pgx driver
	if err != nil {
		return fmt.Errorf("backie: migrate: lock id: %w", err)
	}
	id, err := strconv.ParseInt(aid, 10, 64)
	if err != nil {
		return fmt.Errorf("backie: migrate: lock id: %w", err)
	}
	// A cancelled wait closes the connection, which ends the session and
	// with it any lock granted meanwhile.
	if _, err := conn.Exec(ctx, sqlAdvisoryLock, id); err != nil {
		return opError("migrate: wait for lock", err)
	}
	unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), migrateUnlockTimeout)
	defer cancel()
	if _, err := conn.Exec(unlockCtx, sqlAdvisoryUnlock, id); err != nil {
		// Never hand the pool a session that may still hold the lock.
		_ = conn.Hijack().Close(unlockCtx)
		return opError("migrate: release lock", err)
	}
	return nil
}

// migrateUnlockTimeout bounds the release of the advisory lock.
const migrateUnlockTimeout = 10 * time.Second
