package backieui

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/backie-go/backie"
)

// The browser tests drive a headless Chromium through the DevTools
// protocol. They look for the browser in $BACKIE_CHROMIUM, then for
// chromium, chromium-browser, google-chrome and google-chrome-stable on
// PATH; without one they are skipped, except on CI (CI set), where .ci/run
// installs Debian's chromium and a missing browser is an error.

var screenshots = flag.String("screenshots", "", "write the README's screenshots of the dashboard to this directory (make screenshots)")

func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BACKIE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found (apt-get install chromium, or set BACKIE_CHROMIUM to a Chrome or Chromium binary)"
	if os.Getenv("CI") != "" {
		t.Fatal("browser tests: " + msg + "; .ci/run installs it")
	}
	t.Skip("browser tests skipped: " + msg)
	return ""
}

// browser starts a headless Chromium with a fresh profile, closed when the
// test ends, and returns the context of its tab. Every step runs under
// the test's deadline. JavaScript dialogs (confirm) are accepted.
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("lang", "en-US"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelDeadline := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelDeadline()
		cancelTab()
		cancelAlloc() // waits for the browser to exit
	})
	// Start the browser now, so that a browser that cannot start fails here.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath(t), err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatal(err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return ctx
}

// must fails the test when a browser step fails.
func must(t *testing.T, err error, step string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	must(t, err, "text of "+sel)
	return strings.TrimSpace(s)
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	must(t, err, js)
	return v
}

// waitFor waits until the JavaScript expression is true on the current
// page, within the test's deadline.
func waitFor(t *testing.T, ctx context.Context, js string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(20*time.Second)))
	must(t, err, "wait for "+js)
}

// clickAndLoad clicks sel and waits until the page it leads to has loaded.
func clickAndLoad(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)))
	must(t, err, "click "+sel)
}

// TestBrowser uses the dashboard as a person would, on a real PostgreSQL
// with a running worker pool: it loads the pages, sees the counts refresh
// by themselves and pauses that, pauses a task type, filters the list,
// opens a failed task, retries it and cancels it and sees its state change,
// cancels a running task and sees its pool stop it, and checks that POSTs
// without a valid CSRF token are refused.
func TestBrowser(t *testing.T) {
	ctx := browser(t, 1280, 900)
	q := startPool(t)
	s := newTestServerFor(t, q, Config{Title: "Shop", RefreshInterval: time.Second}, mountStrip)

	// The pool runs what is enqueued: emails succeed, charges fail for
	// good, a report runs until it is cancelled, another waits an hour.
	bg := context.Background()
	for i := range 3 {
		_, err := q.CreateTask(bg, &sendEmail{To: fmt.Sprintf("user%d@example.com", i), Subject: "Welcome"})
		must(t, err, "enqueue")
		_, err = q.CreateTask(bg, &chargeCard{Invoice: fmt.Sprintf("in_%04d", i), Cents: 1999 + i}, backie.WithPriority(backie.PriorityUrgent))
		must(t, err, "enqueue")
	}
	running, err := q.CreateTask(bg, &buildReport{Month: "2025-10"})
	must(t, err, "enqueue")
	_, err = q.CreateTask(bg, &buildReport{Month: "2025-11"}, backie.RunAfter(time.Hour))
	must(t, err, "enqueue")
	eventually(t, "the pool runs the tasks", func() bool {
		return countIn(t, q, backie.StateDone) == 3 && countIn(t, q, backie.StateFailed) == 3 && countIn(t, q, backie.StateRunning) == 1
	})

	// Overview: counts by state (refreshed by the page itself as the
	// leader recounts), the chart, the live pool.
	must(t, chromedp.Do(ctx, chromedp.Navigate(s.root), chromedp.WaitVisible(chromedp.CSS(".cards"))), "load the overview")
	waitFor(t, ctx, `document.querySelector(".card.st-failed .card-num").textContent.trim() === "3" &&
		document.querySelector(".card.st-done .card-num").textContent.trim() === "3"`)
	if n := eval[int](t, ctx, `document.querySelectorAll("svg.chart g.bar").length`); n != 60 {
		t.Errorf("the chart has %d bars", n)
	}
	host, _ := os.Hostname()
	if got := text(t, ctx, ".proc-list li a"); !strings.Contains(got, host) {
		t.Errorf("the live pool is shown as %q, want host %s", got, host)
	}
	if title := eval[string](t, ctx, `document.title`); title != "Overview · Shop" {
		t.Errorf("title %q", title)
	}

	// Auto-refresh pauses, and the pause survives a reload.
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("refresh-toggle"))), "pause auto-refresh")
	waitFor(t, ctx, `document.getElementById("refresh-toggle").getAttribute("aria-pressed") === "true"`)
	must(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("refresh-toggle"))), "reload")
	if label := text(t, ctx, "#refresh-toggle .refresh-label"); label != "Paused" {
		t.Errorf("after a reload the toggle says %q, want Paused", label)
	}
	// Three intervals without a refresh: the page stays as it was.
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`document.body.dataset.refreshedAt`, chromedp.WithPollingTimeout(3500*time.Millisecond))); err == nil {
		t.Error("the page refreshed while paused")
	}
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("refresh-toggle"))), "resume auto-refresh")
	waitFor(t, ctx, `!!document.body.dataset.refreshedAt`)

	// Pause the billing type, so that a retried charge stays Ready.
	clickAndLoad(t, ctx, `[data-testid="pause-billing"]`)
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid="resume-billing"]`))), "the type is paused")
	if msg := text(t, ctx, ".flash-ok"); !strings.Contains(msg, "paused") {
		t.Errorf("after pause the message says %q", msg)
	}

	// The list, filtered by state (a tab) and by type (the form).
	clickAndLoad(t, ctx, `nav.sections a[href="./tasks"]`)
	clickAndLoad(t, ctx, `a.tab[href="./tasks?state=failed"]`)
	must(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("f-type"), "billing")), "choose a type")
	clickAndLoad(t, ctx, "#f-apply")
	loc, err := chromedp.Run(ctx, chromedp.Location())
	must(t, err, "location")
	if !strings.Contains(loc, "state=failed") || !strings.Contains(loc, "type=billing") {
		t.Errorf("the filter is not in the URL: %s", loc)
	}
	if rows := eval[int](t, ctx, `document.querySelectorAll("table.tasks tbody tr").length`); rows != 3 {
		t.Errorf("%d failed billing tasks listed, want 3", rows)
	}
	if !eval[bool](t, ctx, `[...document.querySelectorAll("table.tasks tbody tr")].every(r =>
		r.querySelector(".badge").textContent === "failed" && r.querySelector(".type").textContent === "billing")`) {
		t.Error("the list shows tasks the filter excludes")
	}
	if chip := text(t, ctx, ".chips .chip"); !strings.Contains(chip, "billing") {
		t.Errorf("the type filter's chip says %q", chip)
	}

	// A failed task: a click on its row opens it.
	clickAndLoad(t, ctx, "table.tasks tbody tr td.when")
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("payload"))), "open a task")
	if state := text(t, ctx, "#task-state"); state != "failed" {
		t.Fatalf("the task is %s, want failed", state)
	}
	id := uuid.MustParse(text(t, ctx, "#task-id"))
	if msg := text(t, ctx, "#task-error pre.errmsg"); !strings.Contains(msg, "card_declined") {
		t.Errorf("the error says %q", msg)
	}
	if got := text(t, ctx, "#task-process"); !strings.Contains(got, host) {
		t.Errorf("the process says %q, want host %s", got, host)
	}

	clickAndLoad(t, ctx, "#action-retry")
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(".flash-ok"))), "the retry's message")
	if msg := text(t, ctx, ".flash-ok"); !strings.Contains(msg, "retried") {
		t.Errorf("after retry the message says %q", msg)
	}
	if state := text(t, ctx, "#task-state"); state != "ready" {
		t.Errorf("after retry the task is %s, want ready (its type is paused)", state)
	}

	clickAndLoad(t, ctx, "#action-cancel") // the confirmation is accepted
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(".flash-ok"))), "the cancel's message")
	if msg := text(t, ctx, ".flash-ok"); !strings.Contains(msg, "cancelled") {
		t.Errorf("after cancel the message says %q", msg)
	}
	if state := text(t, ctx, "#task-state"); state != "cancelled" {
		t.Errorf("after cancel the task is %s, want cancelled", state)
	}

	// A POST from the page's own origin without the token, or with a
	// forged one, is refused, and changes nothing.
	for name, body := range map[string]string{
		"no token":     `"next=%2F"`,
		"forged token": `"next=%2F&csrf_token=" + "A".repeat(43)`,
	} {
		status := eval[int](t, ctx, `fetch(document.querySelector('form[action$="/retry"]').action, {
			method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: `+body+`, redirect: "manual"}).then(r => r.status)`)
		if status != 403 {
			t.Errorf("%s: status %d, want 403", name, status)
		}
	}
	rec, err := q.FindTask(bg, id)
	must(t, err, "find the task")
	if state := rec.State(); state != backie.StateCancelled {
		t.Errorf("after the refused POSTs the task is %s", state)
	}

	// A running task: its pool stops it when it is cancelled.
	must(t, chromedp.Do(ctx, chromedp.Navigate(s.root+"tasks/"+running.ID.String()), chromedp.WaitVisible(chromedp.ID("task-state"))), "the running task")
	if state := text(t, ctx, "#task-state"); state != "running" {
		t.Fatalf("the report is %s, want running", state)
	}
	clickAndLoad(t, ctx, "#action-cancel")
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(".flash-ok"))), "the cancel's message")
	deadline := time.Now().Add(20 * time.Second)
	for state := text(t, ctx, "#task-state"); state != "cancelled"; state = text(t, ctx, "#task-state") {
		if time.Now().After(deadline) {
			t.Fatalf("the cancelled report is still %s", state)
		}
		must(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("task-state"))), "reload")
	}

	// Resume the type, from the overview; the processes page shows the pool.
	must(t, chromedp.Do(ctx, chromedp.Navigate(s.root), chromedp.WaitVisible(chromedp.CSS(`[data-testid="resume-billing"]`))), "overview")
	clickAndLoad(t, ctx, `[data-testid="resume-billing"]`)
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid="pause-billing"]`))), "the type is resumed")
	clickAndLoad(t, ctx, `nav.sections a[href="./processes"]`)
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("table.procs"))), "processes")
	if got := text(t, ctx, "table.procs tbody tr"); !strings.Contains(got, host) || !strings.Contains(got, "leader") {
		t.Errorf("the processes page shows %q", got)
	}
}

// TestScreenshots writes the README's pictures of the dashboard, with the
// seeded data of a busy service (a real one would need an hour of
// history): make screenshots.
func TestScreenshots(t *testing.T) {
	if *screenshots == "" {
		t.Skip("make screenshots (-screenshots DIR) writes the README's pictures")
	}
	takeScreenshots(t, browser(t, 1280, 900), *screenshots)
}

// takeScreenshots writes the README's pictures, from a dashboard with the
// seeded data only.
func takeScreenshots(t *testing.T, ctx context.Context, dir string) {
	f := seeded(3)
	s := newTestServer(t, f, Config{Title: "shop-api"}, mountStrip)
	shot := func(name string, full bool) {
		var b []byte
		var err error
		if full {
			b, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		} else {
			b, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
		}
		must(t, err, "screenshot "+name)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}
	must(t, chromedp.Do(ctx, chromedp.Navigate(s.root), chromedp.WaitVisible(chromedp.CSS(".cards"))), "overview")
	shot("dashboard-overview.png", true)

	// A failed task whose last attempt panicked, with its stack open.
	task := firstTaskWhere(t, f, func(r *backie.TaskRecord) bool {
		return r.State() == backie.StateFailed && r.Error != nil && r.Error.Stack != ""
	})
	must(t, chromedp.Do(ctx, chromedp.Navigate(s.root+"tasks/"+task.ID.String()), chromedp.WaitVisible(chromedp.ID("payload"))), "task")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("details.stack summary"))), "open the stack")
	shot("dashboard-task.png", true)
	must(t, chromedp.Do(ctx, chromedp.Navigate(s.root+"tasks?state=failed")), "list")
	must(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("table.tasks"))), "list")
	shot("dashboard-tasks.png", false)
}
