package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/spf13/cobra"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/migrations"
)

func (a *app) migrateCommand() *cobra.Command {
	cmd := groupCommand(&cobra.Command{
		Use:   "migrate",
		Short: "Apply, revert or show Backie's migrations",
		Long: `migrate applies, reverts or shows Backie's migrations in the schema of the
connections' search_path (--schema), with the version table
backie_schema_migrations, as backie.Migrate does.`,
	})
	var yes bool
	down := &cobra.Command{
		Use:   "down",
		Short: "Revert every migration: drop Backie's tables and every task",
		Long: `down reverts every migration, down to version 0: it drops Backie's tables
and every task in them. It asks for confirmation on stdin (type yes) unless
--yes is given.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.migrateDown(cmd, yes) },
	}
	down.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	cmd.AddCommand(
		&cobra.Command{
			Use:   "up",
			Short: "Apply the migrations up to the latest version",
			Long: `up applies Backie's migrations up to the latest version (a no-op when the
schema is up to date). With --schema, the schema is created if missing.`,
			Args: noArgs,
			RunE: a.migrateUp,
		},
		down,
		&cobra.Command{
			Use:   "version",
			Short: "Show the schema's version, whether it is dirty, and the latest version",
			Args:  noArgs,
			RunE:  a.migrateVersion,
		},
	)
	return cmd
}

// schemaVersion is where a schema stands.
type schemaVersion struct {
	Schema string `json:"schema"`
	// Version is the last migration applied; 0 when none is.
	Version uint `json:"version"`
	// Dirty says that migration Version failed half-way.
	Dirty bool `json:"dirty"`
	// Latest is the last migration this command knows.
	Latest uint `json:"latest"`
}

// readVersion reads the version of the schema Backie's tables are looked
// for in, without writing anything (golang-migrate would create its
// table). It fails with ErrMissingSchema when no schema of the search_path
// exists.
func readVersion(ctx context.Context, pool *pgxpool.Pool) (schemaVersion, error) {
	v := schemaVersion{}
	var err error
	if v.Latest, err = latestVersion(); err != nil {
		return v, err
	}
	var (
		schema *string
		path   string
	)
	if err := pool.QueryRow(ctx, sqlCurrentSchema).Scan(&schema, &path); err != nil {
		return v, err
	}
	if schema == nil {
		return v, fmt.Errorf("%w: no schema of the search_path (%s) exists", backie.ErrMissingSchema, path)
	}
	v.Schema = *schema
	var exists bool
	if err := pool.QueryRow(ctx, sqlVersionTableExists, v.Schema, backie.MigrationsTableDefault).Scan(&exists); err != nil {
		return v, err
	}
	if !exists {
		return v, nil
	}
	var version int64
	err = pool.QueryRow(ctx, sqlVersion(v.Schema, backie.MigrationsTableDefault)).Scan(&version, &v.Dirty)
	switch {
	case isNoRows(err):
		return v, nil
	case err != nil:
		return v, err
	case version < 0:
		return v, nil // golang-migrate's "no version"
	}
	v.Version = uint(version)
	return v, nil
}

// latestVersion is the number of the last migration of the library.
func latestVersion() (uint, error) {
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return 0, err
	}
	defer src.Close()
	v, err := src.First()
	for err == nil {
		var next uint
		if next, err = src.Next(v); err == nil {
			v = next
		}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	return v, nil
}

func (a *app) migrateUp(cmd *cobra.Command, _ []string) error {
	ctx, cancel := a.context(cmd)
	defer cancel()
	q, err := a.connect(ctx)
	if err != nil {
		return err
	}
	before, err := readVersion(ctx, q.Pool())
	switch {
	case errors.Is(err, backie.ErrMissingSchema) && a.schema != "":
		before.Schema = a.schema // Migrate creates it
	case err != nil:
		return err
	case before.Version > before.Latest:
		return failedf("schema %q is at version %d, newer than this command knows (%d): install a newer backie",
			before.Schema, before.Version, before.Latest)
	}
	if err := backie.Migrate(ctx, q.Pool(), backie.MigrateConfig{Schema: a.schema}); err != nil {
		return err
	}
	after, err := readVersion(ctx, q.Pool())
	if err != nil {
		return err
	}
	return a.emit(struct {
		Schema string `json:"schema"`
		From   uint   `json:"from"`
		To     uint   `json:"to"`
		Latest uint   `json:"latest"`
	}{after.Schema, before.Version, after.Version, after.Latest}, func(w io.Writer) {
		if before.Version == after.Version {
			fmt.Fprintf(w, "Schema %q is up to date: version %d.\n", after.Schema, after.Version)
			return
		}
		fmt.Fprintf(w, "Schema %q migrated from version %d to %d, the latest.\n", after.Schema, before.Version, after.Version)
	})
}

func (a *app) migrateVersion(cmd *cobra.Command, _ []string) error {
	ctx, cancel := a.context(cmd)
	defer cancel()
	q, err := a.connect(ctx)
	if err != nil {
		return err
	}
	v, err := readVersion(ctx, q.Pool())
	if err != nil {
		return err
	}
	return a.emit(v, func(w io.Writer) {
		switch {
		case v.Dirty:
			fmt.Fprintf(w, "Schema %q: version %d is dirty: that migration failed half-way. Repair the schema by hand, then set the version with the migrate CLI (migrate force). The latest version is %d.\n",
				v.Schema, v.Version, v.Latest)
		case v.Version == 0:
			fmt.Fprintf(w, "Schema %q: not migrated (the latest version is %d): run `backie migrate up`.\n", v.Schema, v.Latest)
		case v.Version < v.Latest:
			fmt.Fprintf(w, "Schema %q: version %d of %d: run `backie migrate up`.\n", v.Schema, v.Version, v.Latest)
		case v.Version > v.Latest:
			fmt.Fprintf(w, "Schema %q: version %d, newer than this command knows (%d): install a newer backie.\n", v.Schema, v.Version, v.Latest)
		default:
			fmt.Fprintf(w, "Schema %q: version %d, the latest.\n", v.Schema, v.Version)
		}
	})
}

func (a *app) migrateDown(cmd *cobra.Command, yes bool) error {
	ctx, cancel := a.context(cmd)
	defer cancel()
	q, err := a.connect(ctx)
	if err != nil {
		return err
	}
	before, err := readVersion(ctx, q.Pool())
	switch {
	case err != nil:
		return err
	case before.Dirty:
		return failedf("schema %q is dirty at version %d: that migration failed half-way; repair the schema by hand, then set the version with the migrate CLI (migrate force)",
			before.Schema, before.Version)
	case before.Version > before.Latest:
		return failedf("schema %q is at version %d, newer than this command knows (%d): install a newer backie",
			before.Schema, before.Version, before.Latest)
	}
	result := struct {
		Schema string `json:"schema"`
		From   uint   `json:"from"`
		To     uint   `json:"to"`
	}{Schema: before.Schema, From: before.Version}
	if before.Version == 0 {
		return a.emit(result, func(w io.Writer) {
			fmt.Fprintf(w, "Schema %q has no migration applied: nothing to revert.\n", before.Schema)
		})
	}
	if !yes {
		cc := q.Pool().Config().ConnConfig
		fmt.Fprintf(a.stderr, "This drops Backie's tables and every task in them, in schema %q of database %q on %s:%d (version %d to 0).\nType yes to go on: ",
			before.Schema, cc.Database, cc.Host, cc.Port, before.Version)
		answer, _ := bufio.NewReader(a.stdin).ReadString('\n')
		if ans := strings.ToLower(strings.TrimSpace(answer)); ans != "yes" && ans != "y" {
			return failedf("migrate down was not confirmed: nothing changed (type yes, or pass --yes)")
		}
	}

	// golang-migrate waits for its advisory lock and reads its version
	// with context.Background(): run it aside, and give up when ctx ends.
	done := make(chan error, 1)
	go func() { done <- migrateDown(ctx, q.Pool()) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// The goroutine may still hold a connection, which Close would
		// wait for: the process ends instead, and with it the session.
		a.pool = nil
		return failedf("migrate down: %v (another migration may hold the lock); a migration in progress is rolled back", context.Cause(ctx))
	}
	if err != nil {
		return fmt.Errorf("migrate down: %w", err)
	}
	return a.emit(result, func(w io.Writer) {
		fmt.Fprintf(w, "Schema %q migrated down from version %d to 0: Backie's tables are dropped.\n", before.Schema, before.Version)
	})
}

// migrateDown reverts every migration with golang-migrate, as backie.Migrate
// applies them: the same files and version table. When ctx ends, it stops
// after the migration in progress (golang-migrate's graceful stop).
func migrateDown(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	drv, err := migratepgx.WithInstance(db, &migratepgx.Config{MigrationsTable: backie.MigrationsTableDefault})
	if err != nil {
		return err
	}
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return err
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	if err != nil {
		return err
	}
	defer m.Close()
	stop := context.AfterFunc(ctx, func() {
		select {
		case m.GracefulStop <- true:
		default:
		}
	})
	defer stop()
	err = m.Down()
	if errors.Is(err, migrate.ErrNoChange) {
		return nil
	}
	return err
}
