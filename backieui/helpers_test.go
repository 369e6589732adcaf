package backieui

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// testServer is the dashboard behind a real HTTP server, mounted under
// /admin/tasks/ the way a service would.
type testServer struct {
	t       *testing.T
	srv     *httptest.Server
	client  *http.Client
	backend *fakeBackend
	// root is the URL of the dashboard's overview.
	root string
}

// mountStrip and mountPrefix are the two ways to mount the dashboard.
const (
	mountStrip  = "strip"  // http.StripPrefix
	mountPrefix = "prefix" // Config.Prefix
)

func newTestServer(t *testing.T, f *fakeBackend, cfg Config, mount string) *testServer {
	t.Helper()
	s := newTestServerFor(t, f, cfg, mount)
	s.backend = f
	return s
}

// newTestServerFor is newTestServer for any backend.
func newTestServerFor(t *testing.T, f Backend, cfg Config, mount string) *testServer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if mount == mountPrefix {
		cfg.Prefix = "/admin/tasks"
	}
	h, err := New(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	if mount == mountPrefix {
		mux.Handle("/admin/tasks/", h)
	} else {
		mux.Handle("/admin/tasks/", http.StripPrefix("/admin/tasks", h))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "outside the dashboard: "+r.URL.Path, http.StatusTeapot)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{
		Jar: jar,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			return http.ErrUseLastResponse // tests look at each redirect
		},
	}
	t.Cleanup(client.CloseIdleConnections)
	return &testServer{t: t, srv: srv, client: client, root: srv.URL + "/admin/tasks/"}
}

// resp is a response with its body read.
type resp struct {
	*http.Response
	Body string
	URL  *url.URL
}

// get fetches path, relative to the dashboard's root unless absolute.
func (s *testServer) get(path string) resp {
	s.t.Helper()
	return s.do(http.MethodGet, path, nil)
}

func (s *testServer) post(path string, form url.Values, header ...string) resp {
	s.t.Helper()
	return s.do(http.MethodPost, path, form, header...)
}

func (s *testServer) resolve(path string) *url.URL {
	s.t.Helper()
	root, _ := url.Parse(s.root)
	u, err := root.Parse(path)
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

func (s *testServer) do(method, path string, form url.Values, header ...string) resp {
	s.t.Helper()
	u := s.resolve(path)
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u.String(), body)
	if err != nil {
		s.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp{Response: res, Body: string(b), URL: u}
}

// follow fetches the page a redirect points to, resolved against the
// request's URL as a browser does.
func (s *testServer) follow(r resp) resp {
	s.t.Helper()
	if r.StatusCode != http.StatusSeeOther {
		s.t.Fatalf("%s: status %d, want 303 See Other; body:\n%s", r.URL, r.StatusCode, r.Body)
	}
	loc, err := r.URL.Parse(r.Header.Get("Location"))
	if err != nil {
		s.t.Fatal(err)
	}
	return s.get(loc.String())
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// token returns the CSRF token of a page's forms.
func token(t *testing.T, page resp) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("%s has no CSRF token", page.URL)
	}
	return m[1]
}

var hrefRe = regexp.MustCompile(`(?:href|action|src)="([^"]*)"`)

// links returns the URLs a page links to, resolved against it.
func links(t *testing.T, page resp) []*url.URL {
	t.Helper()
	var us []*url.URL
	for _, m := range hrefRe.FindAllStringSubmatch(page.Body, -1) {
		u, err := page.URL.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
		if err != nil {
			t.Fatalf("%s links to %q: %v", page.URL, m[1], err)
		}
		us = append(us, u)
	}
	return us
}

func wantStatus(t *testing.T, r resp, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body:\n%s", r.Request.Method, r.URL, r.StatusCode, status, r.Body)
	}
}

func wantContains(t *testing.T, r resp, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(r.Body, s) {
			t.Errorf("%s: page lacks %q", r.URL, s)
		}
	}
}

func wantNotContains(t *testing.T, r resp, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(r.Body, s) {
			t.Errorf("%s: page has %q, it should not", r.URL, s)
		}
	}
}
