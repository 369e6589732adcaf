package benchkit

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// newEnv returns an Env on a fresh migrated schema of the test database.
func newEnv(t *testing.T) *Env {
	t.Helper()
	schema := dbtest.Schema(t)
	pool := dbtest.PoolFor(t, schema, 12)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, backie.Migrate(ctx, pool, backie.MigrateConfig{}))
	reg, err := NewRegistry()
	require.NoError(t, err)
	return &Env{
		Pool: pool,
		OpenPool: func(context.Context) (*pgxpool.Pool, error) {
			return dbtest.PoolFor(t, schema, 4), nil
		},
		Registry: reg,
		Logger:   backie.DiscardLogger(),
	}
}

func smallConfig() Config {
	return Config{
		N: 300, Workers: 8, Pools: 1, Goroutines: 4, BatchSize: 64,
		Rate: 200, Duration: 500 * time.Millisecond,
		PollInterval: 50 * time.Millisecond, StallTimeout: 30 * time.Second,
	}
}

func TestWorkloads(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	for _, w := range Workloads {
		t.Run(w, func(t *testing.T) {
			res := env.Run(ctx, w, smallConfig(), 2)
			require.Empty(t, res.Error)
			require.Len(t, res.Runs, 2)
			assert.Equal(t, w, res.Workload)
			assert.Greater(t, res.TasksPerSec, 0.0)
			assert.Greater(t, res.Seconds, 0.0)
			if w == "latency" {
				assert.Equal(t, 100, res.N)
				assert.Equal(t, int64(100), res.Completed)
				assert.Equal(t, int64(100), res.Enqueued)
				assert.Greater(t, res.P50MS, 0.0)
				assert.GreaterOrEqual(t, res.MaxMS, res.P99MS)
				assert.GreaterOrEqual(t, res.P99MS, res.P95MS)
				assert.GreaterOrEqual(t, res.P95MS, res.P50MS)
			}
		})
	}
}

func TestDrainVariants(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	cases := map[string]func(*Config){
		"pools":                     func(c *Config) { c.Workers, c.Pools = 9, 4 }, // 3+2+2+2 workers
		"own pgxpool":               func(c *Config) { c.Pools, c.OwnPgxPool = 2, true },
		"keep-all":                  func(c *Config) { c.Retention = backie.KeepAll },
		"remove-all":                func(c *Config) { c.Retention = backie.RemoveAll },
		"no notify":                 func(c *Config) { c.DisableNotifications = true },
		"work":                      func(c *Config) { c.N, c.Work = 80, 2*time.Millisecond },
		"batch of one":              func(c *Config) { c.N, c.BatchSize = 20, 1 },
		"one type":                  func(c *Config) { c.Types = 1 },
		"three types, behind other": func(c *Config) { c.Pools, c.Types, c.Other = 2, 3, 100 },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := smallConfig()
			change(&cfg)
			m, err := env.RunOnce(ctx, "drain", cfg)
			require.NoError(t, err)
			assert.InDelta(t, float64(cfg.N), m.TasksPerSec*m.Seconds, 1e-6*float64(cfg.N))
		})
	}
}

func TestLatencyWithoutNotifications(t *testing.T) {
	env := newEnv(t)
	cfg := smallConfig()
	cfg.DisableNotifications = true
	cfg.PollInterval = 100 * time.Millisecond
	m, err := env.RunOnce(context.Background(), "latency", cfg)
	require.NoError(t, err)
	assert.Equal(t, int64(100), m.Completed)
	assert.LessOrEqual(t, m.P50MS, 1000.0) // within a few poll intervals
}

func TestChecksCatchLeftovers(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	q := backie.NewPgQueue(env.Pool, env.Registry)
	_, err := q.CreateTask(ctx, &Task{Seq: 0})
	require.NoError(t, err)
	assert.ErrorContains(t, env.checkFinished(ctx, backie.RemoveFinished, 1, 0), "holds 1 tasks")
	assert.NoError(t, env.checkStored(ctx, 1))
	assert.ErrorContains(t, env.checkStored(ctx, 2), "want 2")
	require.NoError(t, env.Reset(ctx))
	assert.NoError(t, env.checkFinished(ctx, backie.RemoveFinished, 1, 0))
}

func TestStallIsAnError(t *testing.T) {
	env := newEnv(t)
	// Tasks that no pool can claim yet (scheduled an hour ahead) never
	// run: the run must fail after the stall timeout, not hang or report.
	s := newSink(3, 0, nil)
	q := backie.NewPgQueue(env.Pool, env.Registry)
	_, err := q.CreateTasks(context.Background(), []backie.Task{&Task{Seq: 0}, &Task{Seq: 1}, &Task{Seq: 2}}, backie.RunAfter(time.Hour))
	require.NoError(t, err)
	cfg := smallConfig()
	rp, err := env.startPools(context.Background(), cfg, s)
	require.NoError(t, err)
	defer rp.stop()
	err = waitDone(context.Background(), s, 600*time.Millisecond)
	assert.ErrorContains(t, err, "stalled: 0 of 3 tasks run")
	assert.ErrorContains(t, err, "3 never ran")
}

func TestInterrupted(t *testing.T) {
	env := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := env.Run(ctx, "batch", smallConfig(), 1)
	assert.NotEmpty(t, res.Error)
}

func TestLatencyBehindOther(t *testing.T) {
	env := newEnv(t)
	cfg := smallConfig()
	cfg.Types, cfg.Other = 2, 100
	m, err := env.RunOnce(context.Background(), "latency", cfg)
	require.NoError(t, err)
	assert.Equal(t, int64(100), m.Completed)
}

func TestOtherNeedsTypes(t *testing.T) {
	cfg := smallConfig()
	cfg.Other = 10
	for _, w := range []string{"drain", "latency"} {
		assert.ErrorContains(t, cfg.Validate(w), "other needs types >= 1", w)
	}
	// The enqueue workloads ignore it.
	assert.NoError(t, cfg.Validate("enqueue"))
	cfg.Types = 1
	assert.NoError(t, cfg.Validate("drain"))
}
