//go:build unix

package dbtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serverBinGlob is where distributions install the server binaries of each
// PostgreSQL version when they are not on PATH (Debian, Ubuntu).
var serverBinGlob = "/usr/lib/postgresql/*/bin"

// clusterDirPrefix names the temporary directories of throwaway clusters,
// so that the clusters of killed test binaries can be found again.
const clusterDirPrefix = "backie-dbtest-"

// ownerFile, in a cluster's directory, holds the pid of the test binary
// that owns the cluster.
const ownerFile = "owner.pid"

// clusterSettings make a cluster that is thrown away fast: nothing it
// writes needs to survive a crash. Tests run in parallel, each with a pool.
var clusterSettings = []string{
	"listen_addresses = '127.0.0.1'",
	"unix_socket_directories = ''",
	"max_connections = 200",
	"fsync = off",
	"synchronous_commit = off",
	"full_page_writes = off",
}

// serverBins are the PostgreSQL programs a throwaway cluster needs.
type serverBins struct {
	initdb, pgCtl string
}

// findServerBins looks for initdb and pg_ctl on PATH, then in the newest
// version under serverBinGlob that has both.
func findServerBins() (serverBins, error) {
	initdb, err1 := exec.LookPath("initdb")
	pgCtl, err2 := exec.LookPath("pg_ctl")
	if err1 == nil && err2 == nil {
		return serverBins{initdb: initdb, pgCtl: pgCtl}, nil
	}
	dirs, _ := filepath.Glob(serverBinGlob)
	// Newest version first: 9.6 < 10 < 15 compares by number, not text.
	slices.SortFunc(dirs, func(a, b string) int { return compareVersions(versionOf(b), versionOf(a)) })
	for _, dir := range dirs {
		bins := serverBins{initdb: filepath.Join(dir, "initdb"), pgCtl: filepath.Join(dir, "pg_ctl")}
		if isExecutable(bins.initdb) && isExecutable(bins.pgCtl) {
			return bins, nil
		}
	}
	return serverBins{}, fmt.Errorf("no PostgreSQL server binaries (initdb and pg_ctl) on PATH or in %s", serverBinGlob)
}

// versionOf returns the version directory of a serverBinGlob match
// (".../15/bin" → "15").
func versionOf(binDir string) string { return filepath.Base(filepath.Dir(binDir)) }

// compareVersions compares dotted versions number by number.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// cluster is a throwaway PostgreSQL cluster in a temporary directory,
// listening on 127.0.0.1 with trust auth, superuser "postgres".
type cluster struct {
	bins serverBins
	dir  string // holds data/, the server log and ownerFile
	port int
	cred *syscall.Credential // whom the server runs as; nil: this process's user
}

// startCluster creates a cluster in a new temporary directory and starts it
// on a free port. initdb and the server refuse to run as root: as root, they
// run as the user "postgres". On error nothing is left behind.
func startCluster(ctx context.Context, bins serverBins) (_ *cluster, err error) {
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", clusterDirPrefix)
	if err != nil {
		return nil, err
	}
	c := &cluster{bins: bins, dir: dir, cred: cred}
	defer func() {
		if err != nil {
			_ = c.stop()
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	if err := c.run(ctx, bins.initdb, "-D", c.dataDir(), "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, err
	}
	conf, err := os.OpenFile(filepath.Join(c.dataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	_, err = fmt.Fprintf(conf, "\n# dbtest\n%s\n", strings.Join(clusterSettings, "\n"))
	if err := errors.Join(err, conf.Close()); err != nil {
		return nil, err
	}
	// The port is free when chosen, but another process may take it before
	// the server binds it: then start again on another.
	for attempt := 1; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			return nil, err
		}
		err = c.run(ctx, bins.pgCtl, "start", "-w", "-t", "60", "-D", c.dataDir(),
			"-l", c.logFile(), "-o", "-p "+strconv.Itoa(c.port))
		if err == nil {
			return c, nil
		}
		if attempt == 3 || ctx.Err() != nil {
			return nil, fmt.Errorf("%w\nserver log (%s):\n%s", err, c.logFile(), c.logTail())
		}
	}
}

// URL is the cluster's database "postgres".
func (c *cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

func (c *cluster) dataDir() string { return filepath.Join(c.dir, "data") }
func (c *cluster) logFile() string { return filepath.Join(c.dir, "postgres.log") }

// stop stops the server, if one runs, without waiting for clients (nothing
// is kept), and removes the cluster's directory.
func (c *cluster) stop() error {
	var err error
	if _, statErr := os.Stat(filepath.Join(c.dataDir(), "postmaster.pid")); statErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err = c.run(ctx, c.bins.pgCtl, "stop", "-w", "-m", "immediate", "-D", c.dataDir())
	}
	return errors.Join(err, os.RemoveAll(c.dir))
}

// run runs a server program as the cluster's user, in the cluster's
// directory (the user may not be allowed in the current one).
func (c *cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// logTail returns the end of the server log.
func (c *cluster) logTail() string {
	b, err := os.ReadFile(c.logFile())
	if err != nil {
		return err.Error()
	}
	return string(b[max(0, len(b)-2000):])
}

// serverCredential returns the user the server programs run as: nil (this
// process's user) unless this process runs as root, which initdb and
// postgres refuse; then the user "postgres".
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, which initdb refuses, and there is no user %q to run it as (%v): "+
			"run the tests as another user, or create that user", "postgres", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// freePort returns a TCP port of 127.0.0.1 that nothing listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// removeStaleClusters stops and removes the clusters left by test binaries
// that died before they could (a test timeout, a kill). A cluster whose
// owner may still run, or that cannot be inspected, is left alone.
func removeStaleClusters(bins serverBins) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), clusterDirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue
		}
		c := &cluster{bins: bins, dir: dir}
		if c.cred, err = serverCredential(); err != nil {
			continue
		}
		_ = c.stop()
	}
}
