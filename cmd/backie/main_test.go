package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/backie-go/backie/internal/dbtest"
)

// binPath is the command, built once for every test (with -race when the
// tests run with it).
var binPath string

// binDirPrefix names the directories the command is built in. dbtest.Main
// exits the process, so a run cannot remove its own: each run removes those
// of the runs that have ended.
const binDirPrefix = "backie-cli-test-"

func TestMain(m *testing.M) {
	removeStaleBinaries()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", binDirPrefix, os.Getpid()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "build backie:", err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "backie")
	args := []string{"build", "-o", binPath}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build backie:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	dbtest.Main(m)
}

// removeStaleBinaries removes the build directories of test runs whose
// process has ended.
func removeStaleBinaries() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), binDirPrefix+"*"))
	for _, dir := range dirs {
		pidText, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(dir), binDirPrefix), "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if p, err := os.FindProcess(pid); err == nil {
			if err := p.Signal(syscall.Signal(0)); err == nil || errors.Is(err, os.ErrPermission) {
				continue // still running
			}
		}
		_ = os.RemoveAll(dir)
	}
}
