package backietest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backie-go/backie"
)

// EnvURL names the environment variable that holds the database Pool
// uses: a PostgreSQL URL whose user may create schemas.
const EnvURL = "BACKIE_TEST_DATABASE_URL"

// PoolOptions tune Pool. Its zero value is valid.
type PoolOptions struct {
	// MaxConns is the size of the pool. Defaults to PoolMaxConnsDefault.
	MaxConns int32
	// NoMigrate leaves the schema empty, without backie_tasks. Defaults
	// to false: Backie's migrations are applied.
	NoMigrate bool
}

// PoolMaxConnsDefault is the default PoolOptions.MaxConns.
const PoolMaxConnsDefault = 4

// setupTimeout bounds the start of the container, and the creation,
// migration and removal of a schema.
const setupTimeout = 2 * time.Minute

// Pool returns a pool whose connections use a new schema (their
// search_path), with Backie's migrations applied, for one test. When the
// test ends, the schema is dropped with everything in it and the pool is
// closed: stop what uses the pool (a WorkerPool) in a cleanup registered
// after Pool, or before the test returns. Each test gets its own schema,
// so tests that call Pool can run with t.Parallel().
//
// The database is the one EnvURL (BACKIE_TEST_DATABASE_URL) names. When it
// is unset, Pool starts a PostgreSQL container with testcontainers, once
// for the test binary, which needs Docker (or another engine
// testcontainers can use); Run removes the container when the tests end,
// and otherwise testcontainers' reaper does once the binary exits. Without
// either, Pool fails the test and says what to set.
func Pool(tb testing.TB, opts ...PoolOptions) *pgxpool.Pool {
	tb.Helper()
	var o PoolOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.MaxConns <= 0 {
		o.MaxConns = PoolMaxConnsDefault
	}
	url, err := databaseURL()
	if err != nil {
		tb.Fatalf("backietest: Pool: %v", err)
		return nil
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatalf("backietest: Pool: parse the database URL: %v", err)
		return nil
	}
	cfg.MaxConns = o.MaxConns
	schema := newSchemaName()
	cfg.ConnConfig.RuntimeParams["search_path"] = schema

	ctx, cancel := context.WithTimeout(tb.Context(), setupTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("backietest: Pool: %v", err)
		return nil
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf(sqlCreateSchema, pgx.Identifier{schema}.Sanitize())); err != nil {
		pool.Close()
		tb.Fatalf("backietest: Pool: create schema %s: %v", schema, err)
		return nil
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		defer pool.Close()
		if _, err := pool.Exec(ctx, fmt.Sprintf(sqlDropSchema, pgx.Identifier{schema}.Sanitize())); err != nil {
			tb.Errorf("backietest: drop schema %s: %v", schema, err)
		}
	})
	if !o.NoMigrate {
		if err := backie.Migrate(ctx, pool, backie.MigrateConfig{}); err != nil {
			tb.Fatalf("backietest: Pool: migrate schema %s: %v", schema, err)
			return nil
		}
	}
	return pool
}

// newSchemaName returns a schema name no other test uses.
func newSchemaName() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails
	return "backietest_" + hex.EncodeToString(b[:])
}

// Run runs the tests of m and then removes the PostgreSQL container that
// Pool started, if any, and returns m.Run's exit code, or 1 when the
// container could not be removed. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(backietest.Run(m)) }
//
// A package whose tests use Pool without Run leaves the container to
// testcontainers' reaper, which removes it after the test binary exits.
func Run(m *testing.M) int {
	code := m.Run()
	if err := stopContainer(); err != nil {
		fmt.Fprintf(os.Stderr, "backietest: remove the PostgreSQL container: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// The container Pool starts, once per test binary.
var (
	containerMu  sync.Mutex
	containerURL string
	containerErr error // why it could not be started; not retried
	stopFunc     func() error
	started      bool
)

// databaseURL returns EnvURL, or the URL of the container, which it starts
// on first use.
func databaseURL() (string, error) {
	if u := os.Getenv(EnvURL); u != "" {
		return u, nil
	}
	containerMu.Lock()
	defer containerMu.Unlock()
	if !started {
		started = true
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		containerURL, stopFunc, containerErr = startPostgres(ctx)
		if containerErr != nil {
			containerErr = fmt.Errorf("%s is unset and no PostgreSQL container could be started (%w).\n"+
				"Set %s to a database whose user may create schemas, for example\n"+
				"\t%s='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'\n"+
				"or make Docker available to testcontainers", EnvURL, containerErr, EnvURL, EnvURL)
		}
	}
	return containerURL, containerErr
}

// stopContainer removes the container, if one was started, and lets the
// next Pool start another.
func stopContainer() error {
	containerMu.Lock()
	defer containerMu.Unlock()
	var err error
	if stopFunc != nil {
		err = stopFunc()
	}
	started, containerURL, containerErr, stopFunc = false, "", nil, nil
	return err
}
