//go:build unix

package dbtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeBins makes dir/initdb and dir/pg_ctl, or only the names given.
func fakeBins(t *testing.T, dir string, names ...string) {
	t.Helper()
	if len(names) == 0 {
		names = []string{"initdb", "pg_ctl"}
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, name := range names {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\nexit 1\n"), 0o755))
	}
}

func TestFindServerBins(t *testing.T) {
	root := t.TempDir()
	saved := serverBinGlob
	t.Cleanup(func() { serverBinGlob = saved })
	serverBinGlob = filepath.Join(root, "lib", "*", "bin")
	fakeBins(t, filepath.Join(root, "lib", "9.6", "bin"))
	fakeBins(t, filepath.Join(root, "lib", "10", "bin"))
	fakeBins(t, filepath.Join(root, "lib", "15", "bin"), "initdb") // no pg_ctl

	t.Run("PATH first", func(t *testing.T) {
		fakeBins(t, filepath.Join(root, "path"))
		t.Setenv("PATH", filepath.Join(root, "path"))
		bins, err := findServerBins()
		require.NoError(t, err)
		assert.Equal(t, serverBins{
			initdb: filepath.Join(root, "path", "initdb"),
			pgCtl:  filepath.Join(root, "path", "pg_ctl"),
		}, bins)
	})
	t.Run("newest complete version", func(t *testing.T) {
		fakeBins(t, filepath.Join(root, "half"), "initdb")
		t.Setenv("PATH", filepath.Join(root, "half"))
		bins, err := findServerBins()
		require.NoError(t, err)
		assert.Equal(t, filepath.Join(root, "lib", "10", "bin", "initdb"), bins.initdb)
		assert.Equal(t, filepath.Join(root, "lib", "10", "bin", "pg_ctl"), bins.pgCtl)
	})
	t.Run("none", func(t *testing.T) {
		t.Setenv("PATH", "")
		serverBinGlob = filepath.Join(root, "nowhere", "*", "bin")
		_, err := findServerBins()
		require.ErrorContains(t, err, "no PostgreSQL server binaries (initdb and pg_ctl) on PATH")
	})
}

func TestCompareVersions(t *testing.T) {
	assert.Negative(t, compareVersions("9.6", "10"))
	assert.Positive(t, compareVersions("15", "9.6"))
	assert.Zero(t, compareVersions("15", "15.0"))
}

// realBins returns the installed server programs, or skips the test.
func realBins(t *testing.T) serverBins {
	t.Helper()
	bins, err := findServerBins()
	if err != nil {
		t.Skipf("cannot make a throwaway cluster here: %v", err)
	}
	if _, err := serverCredential(); err != nil {
		t.Skipf("cannot make a throwaway cluster here: %v", err)
	}
	return bins
}

func startTestCluster(t *testing.T, bins serverBins) *cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := startCluster(ctx, bins)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.stop() })
	return c
}

// queryPort connects to url and returns the server's port.
func queryPort(ctx context.Context, url string) (int, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var port string
	if err := conn.QueryRow(ctx, "SHOW port").Scan(&port); err != nil {
		return 0, err
	}
	return strconv.Atoi(port)
}

// TestCluster starts a throwaway cluster, migrates a schema in it as the
// tests do, and stops it: nothing is left, neither server nor directory.
func TestCluster(t *testing.T) {
	c := startTestCluster(t, realBins(t))
	ctx := t.Context()

	port, err := queryPort(ctx, c.URL())
	require.NoError(t, err)
	assert.Equal(t, c.port, port)
	conn, err := pgx.Connect(ctx, c.URL())
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE SCHEMA s; CREATE TABLE s.t (id int PRIMARY KEY); INSERT INTO s.t VALUES (1)")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	require.NoError(t, c.stop())
	assert.NoDirExists(t, c.dir)
	_, err = queryPort(ctx, c.URL())
	assert.Error(t, err, "the server still answers")
}

// TestRemoveStaleClusters: the cluster of a test binary that is gone is
// stopped and removed; one whose owner runs is left alone.
func TestRemoveStaleClusters(t *testing.T) {
	bins := realBins(t)
	stale := startTestCluster(t, bins)
	gone := exec.Command("true")
	require.NoError(t, gone.Run())
	require.NoError(t, os.WriteFile(filepath.Join(stale.dir, ownerFile), []byte(strconv.Itoa(gone.Process.Pid)), 0o644))

	live, err := os.MkdirTemp("", clusterDirPrefix)
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(live) })
	require.NoError(t, os.WriteFile(filepath.Join(live, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644))

	removeStaleClusters(bins)
	assert.NoDirExists(t, stale.dir)
	_, err = queryPort(t.Context(), stale.URL())
	assert.Error(t, err, "the stale server still answers")
	assert.DirExists(t, live)
}

// TestStartClusterFails: when initdb fails, the error says what it printed
// and the cluster's directory is gone.
func TestStartClusterFails(t *testing.T) {
	root := t.TempDir()
	if os.Geteuid() == 0 {
		// initdb runs as postgres, which must reach it and the cluster's
		// directory.
		require.NoError(t, os.Chmod(filepath.Dir(root), 0o755))
		require.NoError(t, os.Chmod(root, 0o755))
	}
	tmp, bin := filepath.Join(root, "tmp"), filepath.Join(root, "bin")
	require.NoError(t, os.MkdirAll(tmp, 0o755))
	require.NoError(t, os.MkdirAll(bin, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(bin, "initdb"), []byte("#!/bin/sh\necho initdb: broken >&2\nexit 1\n"), 0o755))
	t.Setenv("TMPDIR", tmp)

	_, err := startCluster(t.Context(), serverBins{initdb: filepath.Join(bin, "initdb"), pgCtl: filepath.Join(bin, "pg_ctl")})
	require.ErrorContains(t, err, "initdb: broken")
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left)
}
