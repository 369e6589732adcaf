package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// uiServer is a running backie ui.
type uiServer struct {
	url    string
	cmd    *exec.Cmd
	stderr *bytes.Buffer // written until the process ends
	done   chan error
}

// startUI starts backie ui on a free port of 127.0.0.1 and waits until it
// says where it serves.
func (e *env) startUI(args ...string) *uiServer {
	e.t.Helper()
	cmd := exec.Command(binPath, append([]string{"--url", e.url, "--schema", e.schema, "--json", "ui", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = environ()
	stdout, err := cmd.StdoutPipe()
	require.NoError(e.t, err)
	s := &uiServer{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	require.NoError(e.t, cmd.Start())
	started := make(chan string, 1)
	go func() {
		// The first line is {"url": …}; the rest is read until the end.
		var line []byte
		sc := bufio.NewScanner(stdout)
		var doc strings.Builder
		for sc.Scan() {
			line = sc.Bytes()
			doc.Write(line)
			var v struct {
				URL string `json:"url"`
			}
			if json.Unmarshal([]byte(doc.String()), &v) == nil {
				started <- v.URL
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		s.done <- cmd.Wait()
	}()
	e.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-s.done
		}
	})
	select {
	case s.url = <-started:
	case err := <-s.done:
		e.t.Fatalf("backie ui ended before serving: %v\nstderr:\n%s", err, s.stderr)
	case <-time.After(time.Minute):
		e.t.Fatalf("backie ui did not say where it serves within a minute\nstderr:\n%s", s.stderr)
	}
	return s
}

// stop ends the server with sig and returns its exit code.
func (s *uiServer) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(sig))
	select {
	case err := <-s.done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		require.NoError(t, err)
		return 0
	case <-time.After(time.Minute):
		t.Fatal("backie ui did not stop within a minute")
	}
	return -1
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestUI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	s := e.seed()
	srv := e.startUI("--title", "cli test")
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/$`, srv.url)

	code, body := get(t, srv.url)
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "<title>Overview · cli test</title>")
	assert.Contains(t, body, "crashy", "the overview lists the types")
	code, body = get(t, srv.url+"tasks/"+s.crashed.ID.String())
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "index out of range [3] with length 3")

	assert.Equal(t, 0, srv.stop(t, syscall.SIGTERM), "stderr:\n%s", srv.stderr)
	assert.Contains(t, srv.stderr.String(), `"msg":"backie ui: serving the dashboard; Ctrl-C stops it"`)
	assert.Contains(t, srv.stderr.String(), `"url":"`+srv.url+`"`)
	assert.Contains(t, srv.stderr.String(), `"msg":"backie ui: stopping"`)
}

func TestUIReadOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	rec := e.create(&mailTask{To: "ro@example.com"})
	srv := e.startUI("--read-only")
	code, body := get(t, srv.url+"tasks/"+rec.ID.String())
	assert.Equal(t, http.StatusOK, code)
	assert.NotContains(t, body, `action="`, "no action form")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.url+"tasks/"+rec.ID.String()+"/cancel",
		strings.NewReader(url.Values{}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Nil(t, e.find(rec.ID).CancelledAt)

	assert.Equal(t, 0, srv.stop(t, syscall.SIGINT), "stderr:\n%s", srv.stderr)
}

// ui fails at once, with the exit code of the problem, when the tables are
// missing or the port is taken.
func TestUIStartErrors(t *testing.T) {
	t.Parallel()
	bare := newEnv(t, false)
	r := bare.run("ui", "--addr", "127.0.0.1:0")
	assert.Equal(t, exitSchema, r.code, "%s", r)
	assert.Contains(t, r.stderr, "run `backie --schema "+bare.schema+" migrate up`")

	e := newEnv(t, true)
	srv := e.startUI()
	addr := strings.TrimSuffix(strings.TrimPrefix(srv.url, "http://"), "/")
	r = e.run("ui", "--addr", addr)
	assert.Equal(t, exitFailed, r.code, "%s", r)
	assert.Contains(t, r.stderr, "ui: cannot listen on "+addr)
	assert.Equal(t, 0, srv.stop(t, syscall.SIGTERM), "stderr:\n%s", srv.stderr)
}
