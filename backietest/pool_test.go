package backietest_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backietest"
)

// schemaOf returns the schema the pool's connections use.
func schemaOf(t *testing.T, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) string {
	t.Helper()
	var schema string
	require.NoError(t, db.QueryRow(t.Context(), `SELECT current_schema()`).Scan(&schema))
	return schema
}

// schemaExists asks the database, on a connection of its own.
func schemaExists(t *testing.T, schema string) bool {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), os.Getenv(backietest.EnvURL))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var exists bool
	require.NoError(t, conn.QueryRow(t.Context(),
		`SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists))
	return exists
}

// TestPool: each test gets its own migrated schema, dropped when the test
// ends.
func TestPool(t *testing.T) {
	t.Parallel()
	var first, second string
	t.Run("first", func(t *testing.T) {
		db := backietest.Pool(t)
		first = schemaOf(t, db)
		require.True(t, strings.HasPrefix(first, "backietest_"), first)
		q := backie.NewPgQueue(db, newRegistry(t, nil))
		_, err := q.CreateTask(t.Context(), &Email{To: "a"})
		require.NoError(t, err, "the schema is migrated")
		require.EqualValues(t, backietest.PoolMaxConnsDefault, db.Config().MaxConns)
	})
	t.Run("second", func(t *testing.T) {
		db := backietest.Pool(t, backietest.PoolOptions{MaxConns: 2, NoMigrate: true})
		second = schemaOf(t, db)
		require.EqualValues(t, 2, db.Config().MaxConns)
		q := backie.NewPgQueue(db, newRegistry(t, nil))
		_, err := q.CreateTask(t.Context(), &Email{To: "a"})
		require.ErrorIs(t, err, backie.ErrMissingTable, "NoMigrate leaves the schema empty")
	})
	require.NotEqual(t, first, second)
	require.False(t, schemaExists(t, first), "the schema is dropped when its test ends")
	require.False(t, schemaExists(t, second))
}

// TestPoolParallel: tests that run in parallel see only their own tasks.
func TestPoolParallel(t *testing.T) {
	t.Parallel()
	for i := range 4 {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			q := newPgQueue(t)
			for range i + 1 {
				_, err := q.CreateTask(t.Context(), &Email{To: "a"})
				require.NoError(t, err)
			}
			n, err := q.RemoveAllTasks(t.Context())
			require.NoError(t, err)
			require.EqualValues(t, i+1, n)
		})
	}
}

// TestPoolContainer: without BACKIE_TEST_DATABASE_URL, Pool starts a
// container once for the binary, and Run removes it. A stand-in for
// Docker hands out the test database.
func TestPoolContainer(t *testing.T) {
	url := os.Getenv(backietest.EnvURL)
	t.Setenv(backietest.EnvURL, "")
	var starts, stops atomic.Int32
	restore := backietest.SetStartPostgresForTest(func(context.Context) (string, func() error, error) {
		starts.Add(1)
		return url, func() error { stops.Add(1); return nil }, nil
	})
	defer restore()

	for range 2 {
		t.Run("", func(t *testing.T) {
			q := backie.NewPgQueue(backietest.Pool(t), newRegistry(t, nil))
			_, err := q.CreateTask(t.Context(), &Email{To: "a"})
			require.NoError(t, err)
		})
	}
	require.EqualValues(t, 1, starts.Load(), "one container for the binary")
	require.NoError(t, backietest.StopContainerForTest())
	require.EqualValues(t, 1, stops.Load(), "Run removes it")
}

// TestPoolNoDatabase: with no URL and no Docker, Pool fails the test and
// says what to set; the failure is kept, not retried for every test.
func TestPoolNoDatabase(t *testing.T) {
	t.Setenv(backietest.EnvURL, "")
	var starts atomic.Int32
	restore := backietest.SetStartPostgresForTest(func(context.Context) (string, func() error, error) {
		starts.Add(1)
		return "", nil, errors.New("cannot reach the Docker daemon")
	})
	defer restore()
	for range 2 {
		requireFails(t, func(tb testing.TB) { backietest.Pool(tb) },
			"backietest: Pool: BACKIE_TEST_DATABASE_URL is unset and no PostgreSQL container could be started (cannot reach the Docker daemon)",
			"Set BACKIE_TEST_DATABASE_URL to a database")
	}
	require.EqualValues(t, 1, starts.Load())
}

// TestPoolNoDocker runs the real container start against a Docker socket
// that does not exist: it fails fast, with testcontainers' reason, and
// leaves no goroutine behind (TestMain checks).
func TestPoolNoDocker(t *testing.T) {
	t.Setenv(backietest.EnvURL, "")
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/no-docker.sock")
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	restore := backietest.SetStartPostgresForTest(nil) // nil: keep the real start
	defer restore()
	start := time.Now()
	c := requireFails(t, func(tb testing.TB) { backietest.Pool(tb) },
		"no PostgreSQL container could be started", "Set BACKIE_TEST_DATABASE_URL")
	require.Less(t, time.Since(start), time.Minute)
	t.Log(c.message())
}
