package backieui

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backie-go/backie"
)

// firstTask returns a task of the fake in state s.
func firstTask(t *testing.T, f *fakeBackend, s backie.TaskState) *backie.TaskRecord {
	t.Helper()
	return firstTaskWhere(t, f, func(r *backie.TaskRecord) bool { return r.State() == s })
}

// firstTaskWhere returns a task of the fake for which ok is true.
func firstTaskWhere(t *testing.T, f *fakeBackend, ok func(*backie.TaskRecord) bool) *backie.TaskRecord {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.tasks {
		if ok(r) {
			c := *r
			return &c
		}
	}
	t.Fatal("the fake has no such task")
	return nil
}

// failedTask is a task that failed a moment ago.
func failedTask(name string, typ backie.TaskType) *backie.TaskRecord {
	now := time.Now()
	started := now.Add(-time.Second)
	return &backie.TaskRecord{
		Name: name, Type: typ, Priority: backie.PriorityDefault, Payload: json.RawMessage(`{}`),
		CreatedAt: now.Add(-time.Minute), ScheduledAt: now.Add(-time.Minute), RunningAt: &started, DoneAt: &now,
		Error: &backie.ErrorInfo{Message: "boom", Kind: backie.ErrorKindError, At: now}, Attempt: 1,
	}
}

func TestOverview(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, seeded(1), Config{Title: "Shop"}, mountStrip)
	page := s.get("")
	wantStatus(t, page, http.StatusOK)
	st, _ := s.backend.Stats(context.Background())
	wantContains(t, page,
		"<title>Overview · Shop</title>",
		`<svg class="chart"`,        // the throughput chart
		"worker-7f9c4", "billing-0", // live processes
		`<span class="pill pill-leader">leader</span>`,
		`data-testid="resume-reports"`, // the paused type can be resumed
		`data-testid="pause-email"`,
		`href="./tasks?state=failed"`,
		`href="./tasks?state=ready&amp;type=email"`, // a count links to its tasks
		`data-refresh-ms="5000"`,
	)
	for _, state := range backie.AllStates {
		wantContains(t, page, `<span class="card-num">`+number(st.Totals.Of(state))+`</span>`)
	}
	if got := strings.Count(page.Body, `<g class="bar">`); got != 60 {
		t.Errorf("the chart has %d bars, want 60", got)
	}
}

func TestListFiltersMapToListFilter(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, seeded(1), Config{PageSize: 25}, mountStrip)
	for _, tc := range []struct {
		query string
		want  backie.ListFilter
	}{
		{"", backie.ListFilter{Limit: 25}},
		{"state=failed", backie.ListFilter{State: backie.StateFailed, Limit: 25}},
		{"state=all", backie.ListFilter{Limit: 25}},
		{"type=email&type=billing&type=email", backie.ListFilter{Types: []backie.TaskType{"email", "billing"}, Limit: 25}},
		{"name=send_receipt&name=", backie.ListFilter{Names: []string{"send_receipt"}, Limit: 25}},
		{"priority=1&priority=4&priority=", backie.ListFilter{Priorities: []int{1, 4}, Limit: 25}},
		{"order=oldest&limit=7", backie.ListFilter{Oldest: true, Limit: 7}},
		{"state=scheduled&type=email&name=send_receipt&priority=2&order=newest",
			backie.ListFilter{State: backie.StateScheduled, Types: []backie.TaskType{"email"}, Names: []string{"send_receipt"}, Priorities: []int{2}, Limit: 25}},
	} {
		page := s.get("tasks?" + tc.query)
		wantStatus(t, page, http.StatusOK)
		if got := s.backend.lastFilter(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("tasks?%s: ListFilter %+v, want %+v", tc.query, got, tc.want)
		}
	}
}

func TestListShowsOnlyWhatTheFilterSelects(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, seeded(1), Config{}, mountStrip)
	page := s.get("tasks?state=failed&type=email")
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page, `<span class="badge st-failed">failed</span>`, `class="tab st-failed active" href="./tasks?state=failed&amp;type=email"`,
		`<a class="chip" href="./tasks?state=failed"`) // removing the type keeps the state
	for _, other := range []string{"ready", "scheduled", "running", "done", "cancelled"} {
		wantNotContains(t, page, `<span class="badge st-`+other+`">`)
	}
	wantNotContains(t, page, `<span class="type">billing</span>`)
}

func TestListBadFilter(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, seeded(1), Config{}, mountStrip)
	for query, want := range map[string]string{
		"state=bogus":  `there is no state &#34;bogus&#34;`,
		"priority=9":   `priority &#34;9&#34; is not one of`,
		"priority=x":   `priority &#34;x&#34; is not one of`,
		"limit=100000": `limit &#34;100000&#34; is not a number between 1 and 1000`,
		"order=random": `order &#34;random&#34; is neither newest nor oldest`,
	} {
		before := len(s.backend.filters)
		page := s.get("tasks?" + query)
		wantStatus(t, page, http.StatusBadRequest)
		wantContains(t, page, want, "Show every task")
		if len(s.backend.filters) != before {
			t.Errorf("tasks?%s: the backend was asked to list", query)
		}
	}
	page := s.get("tasks?cursor=not-a-cursor")
	wantStatus(t, page, http.StatusBadRequest)
	wantContains(t, page, "This page&#39;s link is no longer valid")
}

func TestListPagination(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, seeded(1), Config{}, mountStrip)
	seen := map[string]bool{}
	next := "tasks?state=done&limit=10"
	pages := 0
	for next != "" {
		page := s.get(next)
		wantStatus(t, page, http.StatusOK)
		pages++
		f := s.backend.lastFilter()
		if f.State != backie.StateDone || f.Limit != 10 {
			t.Fatalf("page %d: filter %+v lost the query", pages, f)
		}
		if pages > 1 {
			if f.Cursor == "" {
				t.Fatalf("page %d: no cursor", pages)
			}
			wantContains(t, page, `id="first-page"`)
		}
		rows := 0
		for _, u := range links(t, page) {
			if id, ok := strings.CutPrefix(u.Path, "/admin/tasks/tasks/"); ok && len(id) == 36 {
				if !seen[id] {
					rows++
				}
				seen[id] = true
			}
		}
		if rows == 0 || rows > 10 {
			t.Fatalf("page %d shows %d new tasks", pages, rows)
		}
		next = ""
		for _, u := range links(t, page) {
			if u.Query().Get("cursor") != "" && strings.HasSuffix(u.Path, "/tasks") {
				if u.Query().Get("state") != "done" || u.Query().Get("limit") != "10" {
					t.Fatalf("the next page's link %s drops the filter", u)
				}
				next = u.String()
			}
		}
	}
	st, _ := s.backend.Stats(context.Background())
	if int64(len(seen)) != st.Totals.Done {
		t.Errorf("the pages showed %d tasks, want the %d done", len(seen), st.Totals.Done)
	}
	if pages < 3 {
		t.Errorf("%d pages, want several", pages)
	}
}

func TestTaskPage(t *testing.T) {
	t.Parallel()
	f := seeded(1)
	s := newTestServer(t, f, Config{}, mountStrip)
	failed := firstTask(t, f, backie.StateFailed)
	failed.Error.Stack = panicStack
	failed.Error.Kind = backie.ErrorKindPanic
	failed.Payload = json.RawMessage(`{"to":"a@b.c","n":3,"ok":true,"tags":["x",null]}`)
	f.add(failed)
	page := s.get("tasks/" + failed.ID.String())
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page,
		`<span class="badge badge-lg st-failed" id="task-state">failed</span>`,
		failed.ID.String(),
		`<span class="j-key">&#34;to&#34;</span>: <span class="j-str">&#34;a@b.c&#34;</span>`,
		`<span class="j-num">3</span>`, `<span class="j-lit">true</span>`, `<span class="j-lit">null</span>`,
		`<pre class="errmsg">`+template.HTMLEscapeString(failed.Error.Message),
		`<summary>Stack trace</summary>`, "runtime/debug.Stack()",
		`<span class="pill pill-kind">panic</span>`,
		`href="../processes#p-`+failed.ProcessID.String()+`"`,
		`action="../tasks/`+failed.ID.String()+`/retry"`,
		`action="../tasks/`+failed.ID.String()+`/delete"`,
		`datetime="`+failed.CreatedAt.UTC().Format(time.RFC3339Nano)+`"`,
	)
	wantNotContains(t, page, `/cancel"`) // a failed task cannot be cancelled

	running := firstTask(t, f, backie.StateRunning)
	page = s.get("tasks/" + running.ID.String())
	wantContains(t, page, `/cancel"`, "holds it")
	wantNotContains(t, page, `/retry"`, `/delete"`)

	// A running task whose cancel waits for its attempt to return.
	rec, err := f.CancelTask(context.Background(), running.ID)
	if err != nil || rec.State() != backie.StateRunning {
		t.Fatalf("cancel a running task: %v, %v", rec, err)
	}
	page = s.get("tasks/" + running.ID.String())
	wantContains(t, page, `id="cancel-requested"`, "Cancel requested")
	wantNotContains(t, page, `/cancel"`)

	scheduled := firstTask(t, f, backie.StateScheduled)
	page = s.get("tasks/" + scheduled.ID.String())
	wantContains(t, page, ">Run now</button>", `/cancel"`, `/delete"`)
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, seeded(1), Config{}, mountStrip)
	page := s.get("tasks/not-an-id")
	wantStatus(t, page, http.StatusNotFound)
	wantContains(t, page, "Task not found", "is not a task id")
	id := uuid.Must(uuid.NewV7())
	page = s.get("tasks/" + id.String())
	wantStatus(t, page, http.StatusNotFound)
	wantContains(t, page, "No task has the id "+id.String(), `href="../tasks"`)
	page = s.get("nowhere/at/all")
	wantStatus(t, page, http.StatusNotFound)
	wantContains(t, page, "Page not found", `href="../../tasks"`)
	page = s.get("static/missing.css")
	wantStatus(t, page, http.StatusNotFound)
}

func TestBackendErrorsRenderAnErrorPage(t *testing.T) {
	t.Parallel()
	f := seeded(1)
	s := newTestServer(t, f, Config{}, mountStrip)
	id := firstTask(t, f, backie.StateDone).ID
	f.mu.Lock()
	f.err = errors.New("backie: stats: dial tcp 127.0.0.1:5432: connect: connection refused")
	f.mu.Unlock()
	for _, path := range []string{"", "tasks", "tasks/" + id.String(), "processes"} {
		page := s.get(path)
		wantStatus(t, page, http.StatusInternalServerError)
		wantContains(t, page, "The task store did not answer", "connection refused")
	}
	f.mu.Lock()
	f.err, f.panicking = nil, true
	f.mu.Unlock()
	page := s.get("")
	wantStatus(t, page, http.StatusInternalServerError)
	wantContains(t, page, "Something went wrong")
}

func TestActions(t *testing.T) {
	t.Parallel()
	f := seeded(1)
	s := newTestServer(t, f, Config{}, mountStrip)
	failed := firstTask(t, f, backie.StateFailed)
	taskPath := "tasks/" + failed.ID.String()
	page := s.get(taskPath)
	form := url.Values{csrfField: {token(t, page)}, "next": {"/" + taskPath}}

	res := s.post(taskPath+"/retry", form)
	if loc := res.Header.Get("Location"); loc != "../../"+taskPath {
		t.Errorf("retry redirects to %q", loc)
	}
	page = s.follow(res)
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page, `<div class="flash flash-ok"`, "Task "+shortID(failed.ID)+" retried", `id="task-state">ready</span>`)
	if got := f.get(failed.ID).State(); got != backie.StateReady {
		t.Errorf("after retry the task is %s", got)
	}
	// The flash shows once.
	wantNotContains(t, s.get(taskPath), "retried: it is ready")

	page = s.follow(s.post(taskPath+"/cancel", form))
	wantContains(t, page, "Task "+shortID(failed.ID)+" cancelled.", `id="task-state">cancelled</span>`)
	page = s.follow(s.post(taskPath+"/cancel", form))
	wantContains(t, page, `<div class="flash flash-error"`, "has already finished")

	page = s.follow(s.post(taskPath+"/delete", form))
	if !strings.HasSuffix(page.URL.Path, "/admin/tasks/tasks") {
		t.Errorf("delete leads to %s, want the list", page.URL.Path)
	}
	wantContains(t, page, "Task "+shortID(failed.ID)+" deleted.")
	page = s.follow(s.post(taskPath+"/retry", form))
	wantContains(t, page, "no longer exists")

	running := firstTask(t, f, backie.StateRunning)
	page = s.follow(s.post("tasks/"+running.ID.String()+"/retry", url.Values{csrfField: form[csrfField]}))
	wantContains(t, page, "is running, so it cannot be retried")

	// Pause and resume a type, back to the overview.
	res = s.post("types/pause", url.Values{csrfField: form[csrfField], "type": {"email"}, "next": {"/"}})
	if loc := res.Header.Get("Location"); loc != "../" {
		t.Errorf("pause redirects to %q", loc)
	}
	page = s.follow(res)
	wantContains(t, page, "Type “email” paused", `data-testid="resume-email"`)
	page = s.follow(s.post("types/resume", url.Values{csrfField: form[csrfField], "type": {"email"}, "next": {"/"}}))
	wantContains(t, page, "Type “email” resumed", `data-testid="pause-email"`)

	// A next that leaves the dashboard is ignored.
	done := firstTask(t, f, backie.StateDone)
	res = s.post("tasks/"+done.ID.String()+"/retry", url.Values{csrfField: form[csrfField], "next": {"//evil.example/x"}})
	if loc := res.Header.Get("Location"); loc != "../../tasks/"+done.ID.String() {
		t.Errorf("a foreign next redirects to %q", loc)
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	f := seeded(1)
	s := newTestServer(t, f, Config{}, mountStrip)
	task := firstTask(t, f, backie.StateFailed)
	retry := "tasks/" + task.ID.String() + "/retry"
	good := token(t, s.get(""))

	other := newTestServer(t, f, Config{}, mountStrip) // another browser, same process key? no: another handler
	foreign := token(t, other.get(""))

	for name, tc := range map[string]struct {
		form   url.Values
		header []string
	}{
		"no token":                  {url.Values{}, nil},
		"empty token":               {url.Values{csrfField: {""}}, nil},
		"forged token":              {url.Values{csrfField: {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}, nil},
		"another dashboard's token": {url.Values{csrfField: {foreign}}, nil},
		"cross-site request":        {url.Values{csrfField: {good}}, []string{"Sec-Fetch-Site", "cross-site"}},
		"foreign origin":            {url.Values{csrfField: {good}}, []string{"Origin", "https://evil.example"}},
	} {
		res := s.post(retry, tc.form, tc.header...)
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", name, res.StatusCode)
		}
		if !strings.Contains(res.Body, "This action was refused") {
			t.Errorf("%s: the page does not say the action was refused", name)
		}
	}
	if got := f.get(task.ID).State(); got != backie.StateFailed {
		t.Fatalf("a refused retry changed the task to %s", got)
	}

	// A token belongs to its browser's cookie: another browser's cookie
	// with this token is refused.
	jar2 := newTestServer(t, f, Config{CSRFKey: []byte(strings.Repeat("k", 32))}, mountStrip)
	tok2 := token(t, jar2.get(""))
	s3 := newTestServer(t, f, Config{CSRFKey: []byte(strings.Repeat("k", 32))}, mountStrip)
	s3.get("") // its own cookie
	if res := s3.post(retry, url.Values{csrfField: {tok2}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a token of another browser: status %d, want 403", res.StatusCode)
	}
	// With the same key, another process accepts this browser's token.
	res := jar2.post(retry, url.Values{csrfField: {tok2}})
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("a good token: status %d, want 303; body:\n%s", res.StatusCode, res.Body)
	}
	if got := f.get(task.ID).State(); got != backie.StateReady {
		t.Fatalf("after the accepted retry the task is %s", got)
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	f := seeded(1)
	s := newTestServer(t, f, Config{ReadOnly: true}, mountStrip)
	task := firstTask(t, f, backie.StateFailed)
	for _, path := range []string{"", "tasks", "tasks/" + task.ID.String()} {
		page := s.get(path)
		wantStatus(t, page, http.StatusOK)
		wantContains(t, page, ">read-only</span>")
		wantNotContains(t, page, `method="post"`, `csrf_token`)
	}
	for _, path := range []string{"tasks/" + task.ID.String() + "/retry", "tasks/" + task.ID.String() + "/delete", "types/pause"} {
		res := s.post(path, url.Values{"type": {"email"}})
		wantStatus(t, res, http.StatusForbidden)
		wantContains(t, res, "This dashboard is read-only")
	}
	if got := f.get(task.ID).State(); got != backie.StateFailed {
		t.Errorf("the task became %s", got)
	}
	if ps, _ := f.PausedTypes(context.Background()); len(ps) != 1 {
		t.Errorf("paused types: %v", ps)
	}
}

// TestMounting follows every link of every page, under both ways of
// mounting: none leaves the dashboard or leads nowhere.
func TestMounting(t *testing.T) {
	t.Parallel()
	for _, mount := range []string{mountStrip, mountPrefix} {
		t.Run(mount, func(t *testing.T) {
			t.Parallel()
			f := seeded(1)
			s := newTestServer(t, f, Config{}, mount)
			task := firstTask(t, f, backie.StateFailed)
			seen := map[string]bool{}
			for _, path := range []string{"", "tasks", "tasks?state=failed&limit=5", "tasks/" + task.ID.String(), "processes", "no-such-page"} {
				page := s.get(path)
				for _, u := range links(t, page) {
					if !strings.HasPrefix(u.Path, "/admin/tasks/") {
						t.Errorf("%s links outside the dashboard: %s", page.URL, u)
						continue
					}
					if seen[u.String()] || strings.HasSuffix(u.Path, "/retry") || strings.HasSuffix(u.Path, "/delete") ||
						strings.HasSuffix(u.Path, "/cancel") || strings.HasSuffix(u.Path, "/pause") || strings.HasSuffix(u.Path, "/resume") {
						continue
					}
					seen[u.String()] = true
					u.Fragment = ""
					if res := s.get(u.String()); res.StatusCode != http.StatusOK {
						t.Errorf("%s links to %s: status %d", page.URL, u, res.StatusCode)
					}
				}
			}
			if len(seen) < 20 {
				t.Errorf("followed %d links, want many more", len(seen))
			}
			// The cookies are scoped to the dashboard.
			res := s.get("")
			for _, c := range res.Cookies() {
				if c.Path != "/admin/tasks/" {
					t.Errorf("cookie %s has path %q", c.Name, c.Path)
				}
			}
			// An action under the prefix comes back under it.
			tok := token(t, res)
			page := s.follow(s.post("tasks/"+task.ID.String()+"/retry", url.Values{csrfField: {tok}, "next": {"/tasks?state=ready"}}))
			if page.URL.Path != "/admin/tasks/tasks" || page.URL.RawQuery != "state=ready" {
				t.Errorf("the action came back to %s", page.URL)
			}
			wantContains(t, page, "retried")
			// Outside the prefix, nothing.
			if mount == mountPrefix {
				h, _ := New(f, Config{Prefix: "/admin/tasks/"})
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/tasksmore", nil))
				if rec.Code != http.StatusNotFound {
					t.Errorf("a path outside the prefix: status %d", rec.Code)
				}
				rec = httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/tasks", nil))
				if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/admin/tasks/" {
					t.Errorf("the prefix without its slash: status %d, Location %q", rec.Code, rec.Header().Get("Location"))
				}
			}
		})
	}
}

func TestMountedAtRoot(t *testing.T) {
	t.Parallel()
	h, err := New(seeded(1), Config{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/tasks", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `href="./processes"`) {
		t.Fatalf("status %d", rec.Code)
	}
	// http.StripPrefix with the trailing slash leaves paths without a
	// leading one.
	rec = httptest.NewRecorder()
	http.StripPrefix("/ui/", h).ServeHTTP(rec, httptest.NewRequest("GET", "/ui/tasks", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("behind StripPrefix(\"/ui/\"): status %d", rec.Code)
	}
}

func TestStaticAndHeaders(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, seeded(1), Config{}, mountStrip)
	page := s.get("")
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	for file, ctype := range map[string]string{"app.css": "text/css", "app.js": "javascript", "favicon.svg": "image/svg+xml"} {
		res := s.get("static/" + file + "?v=" + assetVersion)
		wantStatus(t, res, http.StatusOK)
		if !strings.Contains(res.Header.Get("Content-Type"), ctype) {
			t.Errorf("%s: Content-Type %q", file, res.Header.Get("Content-Type"))
		}
		if !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: Cache-Control %q", file, res.Header.Get("Cache-Control"))
		}
		wantContains(t, page, "static/"+file+"?v="+assetVersion)
	}
	// Nothing is loaded from elsewhere.
	for _, u := range links(t, page) {
		if u.Host != s.resolve("").Host {
			t.Errorf("the overview loads %s", u)
		}
	}
}

func TestEscaping(t *testing.T) {
	t.Parallel()
	f := seeded(1)
	s := newTestServer(t, f, Config{}, mountStrip)
	now := time.Now()
	r := f.add(&backie.TaskRecord{
		Name: `<script>alert("name")</script>`, Type: `<b>type</b>`, Priority: 2,
		Payload:   json.RawMessage(`{"html":"</pre><script>alert(1)</script>"}`),
		CreatedAt: now, ScheduledAt: now, DoneAt: &now,
		Error: &backie.ErrorInfo{Message: `<img src=x onerror=alert(1)>`, Stack: `</pre><script>`},
	})
	for _, path := range []string{"tasks/" + r.ID.String(), "tasks", ""} {
		page := s.get(path)
		wantStatus(t, page, http.StatusOK)
		wantNotContains(t, page, "<script>alert", "<img src=x", "<b>type</b>", "</pre><script>")
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	f := newFakeBackend()
	for name, cfg := range map[string]Config{
		"short key":        {CSRFKey: []byte("short")},
		"fast refresh":     {RefreshInterval: 100 * time.Millisecond},
		"huge page":        {PageSize: MaxPageSize + 1},
		"negative page":    {PageSize: -1},
		"relative prefix":  {Prefix: "admin"},
		"prefix and query": {Prefix: "/admin?x"},
	} {
		if _, err := New(f, cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: error %v, want ErrInvalidConfig", name, err)
		}
	}
	if _, err := New(nil, Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil backend: error %v", err)
	}
	h, err := New(f, Config{RefreshInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !strings.Contains(rec.Body.String(), `data-refresh-ms="0"`) || strings.Contains(rec.Body.String(), `id="refresh-toggle"`) {
		t.Error("RefreshInterval -1 still refreshes")
	}
	if !strings.Contains(rec.Body.String(), "<title>Overview · Backie</title>") {
		t.Error("the default title is missing")
	}
}
