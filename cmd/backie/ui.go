package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/backie-go/backie/backieui"
)

// uiShutdownTimeout bounds the wait for the dashboard's requests in flight
// when ui stops.
const uiShutdownTimeout = 5 * time.Second

// uiMaxConns is the pool size of ui: a few pages load at once.
const uiMaxConns = 8

func (a *app) uiCommand() *cobra.Command {
	var (
		addr, title string
		readOnly    bool
	)
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Serve the web dashboard on the database",
		Long: `ui serves the Backie dashboard (package backieui) on the database until
Ctrl-C or SIGTERM: the overview, the task list, each task, the live pools,
and the actions (retry, cancel, delete, pause, resume) unless --read-only.

The dashboard has no login of its own: the default address, localhost:8080,
serves this machine only. Put it behind an authenticating proxy, or an SSH
tunnel, before you serve it on other addresses. With --addr :0 it picks a
free port; the URL it serves is printed on start (with --json, as
{"url": ...} on stdout).`,
		Example: `  backie ui
  backie ui --addr :8080 --read-only --title "shop-api (production)"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.ui(cmd, addr, title, readOnly) },
	}
	cmd.Flags().StringVar(&addr, "addr", "localhost:8080", "the address to listen on, host:port")
	cmd.Flags().StringVar(&title, "title", "", "the dashboard's title (default: Backie)")
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "hide the actions and refuse every request but GET and HEAD")
	return cmd
}

func (a *app) ui(cmd *cobra.Command, addr, title string, readOnly bool) error {
	ctx := cmd.Context()
	startCtx, cancel := a.context(cmd)
	defer cancel()
	q, err := a.connectN(startCtx, uiMaxConns)
	if err != nil {
		return err
	}
	// Fail now, not on the first page, when the tables are missing.
	if _, err := q.PausedTypes(startCtx); err != nil {
		return err
	}
	var logger *slog.Logger
	if a.json {
		logger = slog.New(slog.NewJSONHandler(a.stderr, nil))
	} else {
		logger = slog.New(slog.NewTextHandler(a.stderr, nil))
	}
	h, err := backieui.New(q, backieui.Config{Title: title, ReadOnly: readOnly, Logger: logger})
	if err != nil {
		return usageErrorf("%v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return failedf("ui: cannot listen on %s: %v", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	url := "http://" + displayAddr(ln.Addr()) + "/"
	if err := a.emit(struct {
		URL      string `json:"url"`
		Addr     string `json:"addr"`
		ReadOnly bool   `json:"read_only"`
	}{url, ln.Addr().String(), readOnly}, func(io.Writer) {}); err != nil { // the log says it
		_ = ln.Close()
		return err
	}
	mode := ""
	if readOnly {
		mode = " (read-only)"
	}
	logger.Info("backie ui: serving the dashboard"+mode+"; Ctrl-C stops it", "url", url)
	if !readOnly && !isLoopback(ln.Addr()) {
		logger.Warn("backie ui: the dashboard has no login, and anyone who reaches this address can retry, cancel and delete tasks: put it behind an authenticating proxy, or pass --read-only",
			"addr", ln.Addr().String())
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return failedf("ui: %v", err)
	case <-ctx.Done():
	}
	// A second Ctrl-C ends the process at once.
	signal.Reset(os.Interrupt, syscall.SIGTERM)
	logger.Info("backie ui: stopping")
	shutdownCtx, cancelShutdown := context.WithTimeout(context.WithoutCancel(ctx), uiShutdownTimeout)
	defer cancelShutdown()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return failedf("ui: %v", err)
	}
	return nil
}

// displayAddr is addr as a browser reaches it: a wildcard host is this
// machine.
func displayAddr(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", tcp.Port)
	}
	return net.JoinHostPort(tcp.IP.String(), fmt.Sprint(tcp.Port))
}

// isLoopback reports whether addr serves this machine only.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
