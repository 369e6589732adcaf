// Package dbtest gives each test its own migrated schema in a real
// PostgreSQL, so that tests can run in parallel.
//
// The database comes from BACKIE_TEST_DATABASE_URL. When it is unset,
// DefaultURL is used if a PostgreSQL answers there; otherwise, when the
// PostgreSQL server programs are installed (initdb and pg_ctl on PATH or
// under /usr/lib/postgresql/*/bin), a throwaway cluster is created in a
// temporary directory, started on a free port and removed when the test
// binary ends. With none of these the tests fail, saying what to set.
package dbtest

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
	"go.uber.org/goleak"

	"github.com/backie-go/backie"
)

// EnvURL names the environment variable holding the test database URL.
const EnvURL = "BACKIE_TEST_DATABASE_URL"

// DefaultURL is used when EnvURL is unset and a PostgreSQL answers there.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var (
	urlOnce sync.Once
	dbURL   string
	urlErr  error
	// tempCluster is the throwaway cluster URL started, if any.
	tempCluster *cluster

	adminMu   sync.Mutex
	adminPool *pgxpool.Pool
)

// Main runs the package's tests, stops and removes the throwaway cluster if
// one was started, and fails the run if goroutines leaked. Call it from
// TestMain.
func Main(m *testing.M) {
	code := m.Run()
	adminMu.Lock()
	if adminPool != nil {
		adminPool.Close()
		adminPool = nil
	}
	adminMu.Unlock()
	if tempCluster != nil {
		if err := tempCluster.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "dbtest: stop the throwaway cluster in %s: %v\n", tempCluster.dir, err)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// URL returns the database URL tests use. The first call finds it (see the
// package comment); it fails the test when there is none.
func URL(tb testing.TB) string {
	tb.Helper()
	urlOnce.Do(func() { dbURL, urlErr = findURL() })
	if urlErr != nil {
		tb.Fatal(urlErr)
	}
	return dbURL
}

// findURL returns EnvURL, DefaultURL if it answers, or the URL of a
// throwaway cluster it starts.
func findURL() (string, error) {
	if u := os.Getenv(EnvURL); u != "" {
		return u, nil
	}
	pingErr := ping(DefaultURL)
	if pingErr == nil {
		return DefaultURL, nil
	}
	advice := fmt.Sprintf("Set %s to a database the tests may create schemas in, for example\n"+
		"\t%s='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'", EnvURL, EnvURL)
	bins, err := findServerBins()
	if err != nil {
		return "", fmt.Errorf("dbtest: %s is unset, no PostgreSQL answers at %s (%v), and no throwaway cluster can be made: %v.\n%s",
			EnvURL, DefaultURL, pingErr, err, advice)
	}
	removeStaleClusters(bins)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := startCluster(ctx, bins)
	if err != nil {
		return "", fmt.Errorf("dbtest: %s is unset, no PostgreSQL answers at %s (%v), and no throwaway cluster could be started with %s: %v.\n%s",
			EnvURL, DefaultURL, pingErr, bins.initdb, err, advice)
	}
	tempCluster = c
	fmt.Fprintf(os.Stderr, "dbtest: %s is unset and no PostgreSQL answers at %s: using a throwaway cluster in %s at %s\n",
		EnvURL, DefaultURL, c.dir, c.URL())
	return c.URL(), nil
}

// ping reports whether a PostgreSQL answers at url and lets us in.
func ping(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

func admin(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	adminMu.Lock()
	defer adminMu.Unlock()
	if adminPool == nil {
		cfg, err := pgxpool.ParseConfig(URL(tb))
		if err != nil {
			tb.Fatalf("dbtest: parse %s: %v", EnvURL, err)
		}
		cfg.MaxConns = 4
		p, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			tb.Fatalf("dbtest: connect: %v", err)
		}
		adminPool = p
	}
	return adminPool
}

// Options tune Pool.
type Options struct {
	// MaxConns is the pool size. Defaults to 8.
	MaxConns int32
	// NoMigrate leaves the schema empty (no backie_tasks).
	NoMigrate bool
	// ExecMode is the pool's pgx query exec mode (pgx's default, prepared
	// and cached statements, when zero): what a user behind PgBouncer in
	// transaction mode sets to simple protocol or exec.
	ExecMode pgx.QueryExecMode
}

// Schema creates an empty schema that is dropped when the test ends.
func Schema(tb testing.TB) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "backie_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := admin(tb).Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("dbtest: create schema: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := admin(tb).Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("dbtest: drop schema %s: %v", name, err)
		}
	})
	return name
}

// Pool returns a pool whose connections use a fresh schema (search_path),
// migrated unless opts say otherwise. It is closed when the test ends.
func Pool(tb testing.TB, opts ...Options) *pgxpool.Pool {
	tb.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.MaxConns == 0 {
		o.MaxConns = 8
	}
	schema := Schema(tb)
	pool := poolFor(tb, schema, o)
	if !o.NoMigrate {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := backie.Migrate(ctx, pool, backie.MigrateConfig{}); err != nil {
			tb.Fatalf("dbtest: migrate %s: %v", schema, err)
		}
	}
	return pool
}

// PoolFor returns a pool whose connections use schema. It is closed when
// the test ends.
func PoolFor(tb testing.TB, schema string, maxConns int32) *pgxpool.Pool {
	tb.Helper()
	return poolFor(tb, schema, Options{MaxConns: maxConns})
}

func poolFor(tb testing.TB, schema string, o Options) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(URL(tb))
	if err != nil {
		tb.Fatalf("dbtest: parse %s: %v", EnvURL, err)
	}
	cfg.MaxConns = o.MaxConns
	if o.ExecMode != 0 {
		cfg.ConnConfig.DefaultQueryExecMode = o.ExecMode
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("dbtest: connect: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// ExamplePool is Pool for testable examples, which get no testing.TB: it
// returns a pool on a fresh migrated schema, and a function that closes the
// pool and drops the schema, to defer. It panics when the database cannot
// be reached. The package's TestMain must call Main.
func ExamplePool() (*pgxpool.Pool, func()) {
	tb := &exampleTB{}
	return Pool(tb), tb.cleanup
}

// exampleTB implements the methods of testing.TB that this package uses;
// the nil embedded testing.TB only supplies the unexported method.
type exampleTB struct {
	testing.TB
	cleanups []func()
}

func (*exampleTB) Helper()                           {}
func (*exampleTB) Name() string                      { return "Example" }
func (*exampleTB) Context() context.Context          { return context.Background() }
func (*exampleTB) Log(args ...any)                   { fmt.Fprintln(os.Stderr, args...) }
func (*exampleTB) Logf(format string, args ...any)   { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (*exampleTB) Error(args ...any)                 { fmt.Fprintln(os.Stderr, args...) }
func (*exampleTB) Errorf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (*exampleTB) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (*exampleTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (tb *exampleTB) Cleanup(f func())               { tb.cleanups = append(tb.cleanups, f) }

func (tb *exampleTB) cleanup() {
	for i := len(tb.cleanups) - 1; i >= 0; i-- {
		tb.cleanups[i]()
	}
	tb.cleanups = nil
}
