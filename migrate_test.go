package backie_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"io/fs"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
	"github.com/backie-go/backie/migrations"
)

// enqRegclass returns to_regclass(name) as text, or "" when there is no
// such relation.
func enqRegclass(t testing.TB, db enqQuerier, name string) string {
	t.Helper()
	var s *string
	require.NoError(t, db.QueryRow(context.Background(), `SELECT to_regclass($1)::text`, name).Scan(&s))
	if s == nil {
		return ""
	}
	return *s
}

// enqMigrationVersion reads golang-migrate's version table.
func enqMigrationVersion(t testing.TB, db enqQuerier, table string) (version int64, dirty bool) {
	t.Helper()
	require.NoError(t, db.QueryRow(context.Background(), `SELECT version, dirty FROM `+table).Scan(&version, &dirty))
	return version, dirty
}

// enqLatestMigration is the highest version in migrations.FS.
func enqLatestMigration(t testing.TB) uint {
	t.Helper()
	src, err := iofs.New(migrations.FS, ".")
	require.NoError(t, err)
	defer src.Close()
	v, err := src.First()
	require.NoError(t, err)
	for {
		next, err := src.Next(v)
		if err != nil {
			return v
		}
		v = next
	}
}

// enqSearchPaths returns SHOW search_path of every connection of pool,
// which it holds all at once so that none is left out.
func enqSearchPaths(t testing.TB, pool *pgxpool.Pool) []string {
	t.Helper()
	ctx := t.Context()
	n := int(pool.Config().MaxConns)
	paths := make([]string, 0, n)
	for range n {
		conn, err := pool.Acquire(ctx)
		require.NoError(t, err)
		defer conn.Release()
		var p string
		require.NoError(t, conn.QueryRow(ctx, `SHOW search_path`).Scan(&p))
		paths = append(paths, p)
	}
	return paths
}

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, dbtest.Options{NoMigrate: true})
	ctx := t.Context()
	require.Empty(t, enqRegclass(t, pool, "backie_tasks"))

	require.NoError(t, backie.Migrate(ctx, pool, backie.MigrateConfig{}))
	require.Equal(t, "backie_tasks", enqRegclass(t, pool, "backie_tasks"))
	v, dirty := enqMigrationVersion(t, pool, backie.MigrationsTableDefault)
	assert.Equal(t, int64(enqLatestMigration(t)), v)
	assert.False(t, dirty)

	q := backie.NewPgQueue(pool, enqRegistry(t))
	rec, err := q.CreateTask(ctx, &enqTask{N: 1})
	require.NoError(t, err)

	require.NoError(t, backie.Migrate(ctx, pool, backie.MigrateConfig{}), "a second call is a no-op")
	require.NoError(t, backie.Migrate(ctx, pool, backie.MigrateConfig{Version: enqLatestMigration(t)}),
		"migrating to the current version is a no-op")
	v2, dirty := enqMigrationVersion(t, pool, backie.MigrationsTableDefault)
	assert.Equal(t, v, v2)
	assert.False(t, dirty)
	found, err := q.FindTask(ctx, rec.ID)
	require.NoError(t, err, "the data survives")
	enqRequireSameRecord(t, rec, found)
}

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, dbtest.Options{NoMigrate: true})
	ctx := t.Context()
	const n = 4
	var (
		wg   sync.WaitGroup
		errs [n]error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = backie.Migrate(ctx, pool, backie.MigrateConfig{})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "Migrate %d", i)
	}
	assert.Equal(t, "backie_tasks", enqRegclass(t, pool, "backie_tasks"))
	v, dirty := enqMigrationVersion(t, pool, backie.MigrationsTableDefault)
	assert.Equal(t, int64(enqLatestMigration(t)), v)
	assert.False(t, dirty)
}

// Migrate with Schema creates the schema and the tables in it, whatever the
// pool's search_path, and leaves the pool's connections as they were.
func TestMigrateSchema(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"backie_x_", "Backie Mixed-Case "} {
		t.Run(prefix, func(t *testing.T) {
			t.Parallel()
			home := dbtest.Schema(t)
			pool := dbtest.PoolFor(t, home, 2)
			ctx := t.Context()
			var b [4]byte
			_, _ = rand.Read(b[:])
			target := prefix + hex.EncodeToString(b[:])
			quoted := pgx.Identifier{target}.Sanitize()
			t.Cleanup(func() {
				_, err := pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+quoted+` CASCADE`)
				assert.NoError(t, err)
			})

			require.NoError(t, backie.Migrate(ctx, pool, backie.MigrateConfig{Schema: target}))
			require.NoError(t, backie.Migrate(ctx, pool, backie.MigrateConfig{Schema: target}), "idempotent")

			assert.Equal(t, []string{home, home}, enqSearchPaths(t, pool), "search_path of every pooled connection is unchanged")
			assert.NotEmpty(t, enqRegclass(t, pool, quoted+".backie_tasks"))
			assert.NotEmpty(t, enqRegclass(t, pool, quoted+"."+backie.MigrationsTableDefault))
			assert.Empty(t, enqRegclass(t, pool, pgx.Identifier{home, "backie_tasks"}.Sanitize()), "nothing in the pool's schema")
			assert.Empty(t, enqRegclass(t, pool, pgx.Identifier{home, backie.MigrationsTableDefault}.Sanitize()))
			rows, err := pool.Query(ctx,
				`SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'backie_tasks' ORDER BY 1`, target)
			require.NoError(t, err)
			indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err)
			assert.Equal(t, []string{"backie_tasks_claim_idx", "backie_tasks_done_idx", "backie_tasks_failed_idx",
				"backie_tasks_pkey", "backie_tasks_type_claim_idx", "backie_tasks_uniq_idx"}, indexes)
			v, dirty := enqMigrationVersion(t, pool, quoted+"."+backie.MigrationsTableDefault)
			assert.Equal(t, int64(enqLatestMigration(t)), v)
			assert.False(t, dirty)

			// A queue whose pool uses the schema works.
			other := dbtest.PoolFor(t, quoted, 2)
			q := backie.NewPgQueue(other, enqRegistry(t))
			rec, err := q.CreateTask(ctx, &enqUniqTask{Key: "k"})
			require.NoError(t, err)
			again, err := q.CreateTask(ctx, &enqUniqTask{Key: "k"})
			require.NoError(t, err)
			assert.Equal(t, rec.ID, again.ID)
			var n int
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+quoted+`.backie_tasks`).Scan(&n))
			assert.Equal(t, 1, n)
		})
	}
}

// There is no Version that migrates down to nothing (0 means "latest"), so
// the down migration is checked with golang-migrate itself, the way the
// migrate CLI runs it, and by executing the file.
func TestMigrateDown(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, dbtest.Options{NoMigrate: true})
	ctx := t.Context()

	require.NoError(t, backie.Migrate(ctx, pool, backie.MigrateConfig{Version: 1}))
	require.NotEmpty(t, enqRegclass(t, pool, "backie_tasks"))
	v, _ := enqMigrationVersion(t, pool, backie.MigrationsTableDefault)
	require.Equal(t, int64(1), v)

	require.Error(t, backie.Migrate(ctx, pool, backie.MigrateConfig{Version: enqLatestMigration(t) + 1}),
		"a version that does not exist")
	require.NotEmpty(t, enqRegclass(t, pool, "backie_tasks"))

	t.Run("golang-migrate Down", func(t *testing.T) {
		db := stdlib.OpenDBFromPool(pool)
		defer db.Close()
		drv, err := migratepgx.WithInstance(db, &migratepgx.Config{MigrationsTable: backie.MigrationsTableDefault})
		require.NoError(t, err)
		src, err := iofs.New(migrations.FS, ".")
		require.NoError(t, err)
		m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
		require.NoError(t, err)
		require.NoError(t, m.Down())
		_, _, err = m.Version()
		require.ErrorIs(t, err, migrate.ErrNilVersion)
		srcErr, dbErr := m.Close()
		require.NoError(t, srcErr)
		require.NoError(t, dbErr)

		assert.Empty(t, enqRegclass(t, pool, "backie_tasks"))
		var indexes int
		require.NoError(t, pool.QueryRow(ctx,
			`SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname LIKE 'backie_tasks%'`).Scan(&indexes))
		assert.Zero(t, indexes)

		require.NoError(t, backie.Migrate(ctx, pool, backie.MigrateConfig{}), "and up again")
		assert.NotEmpty(t, enqRegclass(t, pool, "backie_tasks"))
	})

	t.Run("SQL files", func(t *testing.T) {
		up, err := fs.ReadFile(migrations.FS, "000001_create_backie_tasks.up.sql")
		require.NoError(t, err)
		down, err := fs.ReadFile(migrations.FS, "000001_create_backie_tasks.down.sql")
		require.NoError(t, err)
		exec := func(sql []byte) error {
			// Simple protocol, one implicit transaction: as golang-migrate runs a file.
			_, err := pool.Exec(ctx, string(sql), pgx.QueryExecModeSimpleProtocol)
			return err
		}
		require.NoError(t, exec(down))
		assert.Empty(t, enqRegclass(t, pool, "backie_tasks"))
		require.NoError(t, exec(down), "down twice")
		require.NoError(t, exec(up))
		require.NoError(t, exec(up), "up twice")
		assert.NotEmpty(t, enqRegclass(t, pool, "backie_tasks"))
	})
}

func TestMigrateMigrationsTable(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, dbtest.Options{NoMigrate: true})
	ctx := t.Context()
	// The application's own golang-migrate table, with the default name.
	_, err := pool.Exec(ctx, `CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
		INSERT INTO schema_migrations VALUES (42, false)`)
	require.NoError(t, err)

	require.NoError(t, backie.Migrate(ctx, pool, backie.MigrateConfig{MigrationsTable: "my_backie_versions"}))
	assert.NotEmpty(t, enqRegclass(t, pool, "backie_tasks"))
	assert.Empty(t, enqRegclass(t, pool, backie.MigrationsTableDefault))
	v, _ := enqMigrationVersion(t, pool, "my_backie_versions")
	assert.Equal(t, int64(enqLatestMigration(t)), v)
	v, dirty := enqMigrationVersion(t, pool, "schema_migrations")
	assert.Equal(t, int64(42), v, "the application's table is untouched")
	assert.False(t, dirty)

	require.NoError(t, backie.Migrate(ctx, pool, backie.MigrateConfig{}), "the default table: the up file is idempotent")
	v, _ = enqMigrationVersion(t, pool, backie.MigrationsTableDefault)
	assert.Equal(t, int64(enqLatestMigration(t)), v)
}

func TestMigrateCancelled(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, dbtest.Options{NoMigrate: true})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, backie.Migrate(ctx, pool, backie.MigrateConfig{}), context.Canceled)
	require.ErrorIs(t, backie.Migrate(ctx, pool, backie.MigrateConfig{Schema: "backie_never_created"}), context.Canceled)
	assert.Empty(t, enqRegclass(t, pool, "backie_tasks"))
	var exists bool
	require.NoError(t, pool.QueryRow(t.Context(),
		`SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'backie_never_created')`).Scan(&exists))
	assert.False(t, exists)
}

// The table has the columns SPEC.md asks for, with their types.
func TestMigrateColumns(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	rows, err := pool.Query(t.Context(), `SELECT column_name::text, data_type::text FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'backie_tasks'`)
	require.NoError(t, err)
	cols := make(map[string]string)
	var name, typ string
	_, err = pgx.ForEachRow(rows, []any{&name, &typ}, func() error { cols[name] = typ; return nil })
	require.NoError(t, err)
	for col, want := range map[string]string{
		"id": "uuid", "task_name": "text", "task_type": "text", "uniq_hash": "text", "payload": "jsonb",
		"timeout_msecs": "bigint", "created_at": "timestamp with time zone",
		"scheduled_at": "timestamp with time zone", "running_at": "timestamp with time zone",
		"done_at": "timestamp with time zone", "error_info": "jsonb", "retries": "integer", "max_retries": "integer",
	} {
		assert.Equal(t, want, cols[col], "column %s", col)
	}
}

var enqMigrationName = regexp.MustCompile(`^([0-9]{6})_([a-z0-9_]+)\.(up|down)\.sql$`)

// The files are golang-migrate migrations: NNNNNN_name.up.sql and
// .down.sql pairs, numbered 1, 2, 3...
func TestMigrationFiles(t *testing.T) {
	t.Parallel()
	entries, err := fs.ReadDir(migrations.FS, ".")
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	type pair struct{ name, up, down string }
	byVersion := make(map[int]*pair)
	for _, e := range entries {
		m := enqMigrationName.FindStringSubmatch(e.Name())
		require.NotNil(t, m, "%s is not NNNNNN_name.up.sql or NNNNNN_name.down.sql", e.Name())
		v, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		p := byVersion[v]
		if p == nil {
			p = &pair{name: m[2]}
			byVersion[v] = p
		}
		require.Equal(t, p.name, m[2], "version %d has two names", v)
		body, err := fs.ReadFile(migrations.FS, e.Name())
		require.NoError(t, err)
		require.NotEmpty(t, body, e.Name())
		if m[3] == "up" {
			p.up = e.Name()
		} else {
			p.down = e.Name()
		}
	}
	for v := 1; v <= len(byVersion); v++ {
		p := byVersion[v]
		require.NotNil(t, p, "versions are 1..%d without gaps", len(byVersion))
		assert.NotEmpty(t, p.up, "version %d has an up file", v)
		assert.NotEmpty(t, p.down, "version %d has a down file", v)
	}

	// golang-migrate reads the same files.
	src, err := iofs.New(migrations.FS, ".")
	require.NoError(t, err)
	defer src.Close()
	n := 0
	for v, err := src.First(); err == nil; v, err = src.Next(v) {
		n++
		for _, read := range []func(uint) (io.ReadCloser, string, error){src.ReadUp, src.ReadDown} {
			r, _, err := read(v)
			require.NoError(t, err, "version %d", v)
			require.NoError(t, r.Close())
		}
	}
	assert.Equal(t, len(byVersion), n)
}

// Migrate holds golang-migrate's advisory lock: a Migrate that waits for it
// returns with ctx's error when ctx ends.
func TestMigrateWaitsForLock(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, dbtest.Options{NoMigrate: true})
	ctx := t.Context()

	// Take the lock the way Migrate does: through golang-migrate's driver.
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	drv, err := migratepgx.WithInstance(db, &migratepgx.Config{MigrationsTable: backie.MigrationsTableDefault})
	require.NoError(t, err)
	defer drv.Close()
	require.NoError(t, drv.Lock())

	callCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = backie.Migrate(callCtx, pool, backie.MigrateConfig{})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Empty(t, enqRegclass(t, pool, "backie_tasks"))

	require.NoError(t, drv.Unlock())
	require.NoError(t, backie.Migrate(ctx, pool, backie.MigrateConfig{}))
	assert.NotEmpty(t, enqRegclass(t, pool, "backie_tasks"))
}

// enqSchemaSnapshot describes every table, column, index and constraint of
// the pool's schema but golang-migrate's version table, for comparing the
// schema between migrations.
func enqSchemaSnapshot(t testing.TB, db enqQuerier) string {
	t.Helper()
	var s string
	require.NoError(t, db.QueryRow(context.Background(), `
		SELECT coalesce(string_agg(line, E'\n' ORDER BY line), '') FROM (
			SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' '
			       || coalesce(column_default, '') AS line
			FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name <> $1
			UNION ALL
			SELECT 'index ' || indexdef FROM pg_indexes
			WHERE schemaname = current_schema() AND tablename <> $1
			UNION ALL
			SELECT 'constraint ' || conrelid::regclass::text || ' ' || pg_get_constraintdef(oid)
			FROM pg_constraint WHERE connamespace = current_schema()::regnamespace
			  AND conrelid::regclass::text <> $1
			UNION ALL
			SELECT 'reloptions ' || relname || ' ' || array_to_string(reloptions, ',')
			FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND reloptions IS NOT NULL
		) AS l`, backie.MigrationsTableDefault).Scan(&s))
	return s
}

// TestMigrationsRoundTrip: every migration is reversible. Migrating up one
// version at a time and then down one at a time passes through the same
// schema at every version, down to nothing, and up again to the latest.
func TestMigrationsRoundTrip(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, dbtest.Options{NoMigrate: true})
	ctx := t.Context()
	latest := enqLatestMigration(t)
	snapshots := []string{enqSchemaSnapshot(t, pool)}
	require.Empty(t, snapshots[0])
	for v := uint(1); v <= latest; v++ {
		require.NoError(t, backie.Migrate(ctx, pool, backie.MigrateConfig{Version: v}), "up to %d", v)
		snapshots = append(snapshots, enqSchemaSnapshot(t, pool))
		require.NotEqual(t, snapshots[v-1], snapshots[v], "migration %d changes nothing", v)
	}
	for v := latest - 1; v >= 1; v-- {
		require.NoError(t, backie.Migrate(ctx, pool, backie.MigrateConfig{Version: v}), "down to %d", v)
		require.Equal(t, snapshots[v], enqSchemaSnapshot(t, pool), "the schema at version %d after going down", v)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	drv, err := migratepgx.WithInstance(db, &migratepgx.Config{MigrationsTable: backie.MigrationsTableDefault})
	require.NoError(t, err)
	src, err := iofs.New(migrations.FS, ".")
	require.NoError(t, err)
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	require.NoError(t, err)
	require.NoError(t, m.Down(), "down to nothing")
	srcErr, dbErr := m.Close()
	require.NoError(t, srcErr)
	require.NoError(t, dbErr)
	require.Empty(t, enqSchemaSnapshot(t, pool))
	require.NoError(t, backie.Migrate(ctx, pool, backie.MigrateConfig{}), "and up again")
	require.Equal(t, snapshots[latest], enqSchemaSnapshot(t, pool))
}

// TestMigrateMissingSchema: a search_path that names no existing schema
// gets an error that says what is wrong and what to do, not golang-migrate's
// "converting NULL to string".
func TestMigrateMissingSchema(t *testing.T) {
	t.Parallel()
	pool := dbtest.PoolFor(t, "backie_no_such_schema", 2)
	ctx := t.Context()
	err := backie.Migrate(ctx, pool, backie.MigrateConfig{})
	require.ErrorIs(t, err, backie.ErrMissingSchema)
	assert.Contains(t, err.Error(), "backie_no_such_schema")
	assert.Contains(t, err.Error(), "MigrateConfig.Schema")
	assert.NotContains(t, err.Error(), "NULL")

	// MigrateConfig.Schema creates it.
	schema := "backie_no_such_schema_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`) })
	require.NoError(t, backie.Migrate(ctx, pool, backie.MigrateConfig{Schema: schema}))
}

// TestMigrateUnreachable: a database that cannot be reached is reported as
// a failure to connect, not as a wait for the migration lock.
func TestMigrateUnreachable(t *testing.T) {
	t.Parallel()
	cfg, err := pgxpool.ParseConfig("postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5")
	require.NoError(t, err)
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	defer pool.Close()
	err = backie.Migrate(t.Context(), pool, backie.MigrateConfig{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "backie: migrate: connect:")
	assert.NotContains(t, err.Error(), "lock")
}
