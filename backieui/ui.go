package backieui

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/backie-go/backie"
)

// Backend is what the dashboard reads and changes: the methods of
// *backie.PgQueue it calls, so a *backie.PgQueue is a Backend. Tests and
// other stores can supply their own.
type Backend interface {
	// FindTask returns the task with id, or an error wrapping
	// backie.ErrNotFound.
	FindTask(ctx context.Context, id backie.TaskID) (*backie.TaskRecord, error)
	// ListTasks returns one page of the tasks f selects; an error wrapping
	// backie.ErrInvalidFilter for a filter or cursor it refuses.
	ListTasks(ctx context.Context, f backie.ListFilter) (*backie.TaskPage, error)
	// Stats returns the counts by state and type, the throughput of the
	// last hour, the paused types and the live processes.
	Stats(ctx context.Context) (*backie.Stats, error)
	// Processes returns the live worker pools.
	Processes(ctx context.Context) ([]backie.Process, error)
	// CancelTask cancels a task that has not finished (backie.ErrTaskFinished
	// otherwise); a running one is cancelled when its attempt returns.
	CancelTask(ctx context.Context, id backie.TaskID) (*backie.TaskRecord, error)
	// RetryTask makes a task that is not running ready to run now
	// (backie.ErrTaskRunning otherwise, backie.ErrUniqueConflict when
	// another unfinished task holds its name and hash).
	RetryTask(ctx context.Context, id backie.TaskID) (*backie.TaskRecord, error)
	// RemoveTask deletes a task.
	RemoveTask(ctx context.Context, id backie.TaskID) error
	// PauseType stops pools from claiming tasks of a type.
	PauseType(ctx context.Context, t backie.TaskType) error
	// ResumeType lets pools claim tasks of a paused type again.
	ResumeType(ctx context.Context, t backie.TaskType) error
	// PausedTypes returns the paused types.
	PausedTypes(ctx context.Context) ([]backie.PausedType, error)
}

// A *backie.PgQueue is a Backend.
var _ Backend = (*backie.PgQueue)(nil)

// Defaults of Config.
const (
	// TitleDefault is the dashboard's title.
	TitleDefault = "Backie"
	// RefreshIntervalDefault is how often pages refresh themselves.
	RefreshIntervalDefault = 5 * time.Second
	// PageSizeDefault is how many tasks a page of the list shows.
	PageSizeDefault = backie.ListLimitDefault
	// MaxPageSize is the largest Config.PageSize (and limit in a URL).
	MaxPageSize = backie.ListLimitMax
	// MinCSRFKeyLen is the shortest Config.CSRFKey.
	MinCSRFKeyLen = 32
)

// ErrInvalidConfig is returned by New for a configuration that cannot work.
var ErrInvalidConfig = errors.New("invalid configuration")

// Config configures the dashboard. The zero value is valid.
type Config struct {
	// Title is shown in the header and in the browser's tab, to tell one
	// service's dashboard from another's. Defaults to TitleDefault.
	Title string

	// ReadOnly hides every action (retry, cancel, delete, pause, resume) and
	// refuses every request that is not a GET or a HEAD with 403 Forbidden.
	// Defaults to false: actions are on.
	ReadOnly bool

	// Prefix is the path the dashboard is mounted at, for a handler that
	// gets the full request path, as in
	// mux.Handle("/admin/tasks/", h) with Prefix "/admin/tasks". The
	// handler removes it from each request's path and answers 404 Not Found
	// to paths outside it. Leave it empty when the handler gets paths
	// relative to its root, as behind
	// http.StripPrefix("/admin/tasks", h) or mounted at "/". Links are
	// relative, so they work either way. Defaults to "".
	Prefix string

	// CSRFKey is the secret that signs the tokens of the action forms and
	// the flash messages, at least MinCSRFKeyLen bytes. Processes that
	// serve the same dashboard behind a load balancer need the same key, or
	// a form rendered by one is refused by another. Defaults to a random
	// key that New makes for this process: forms rendered before a restart
	// are refused after it (reload the page).
	CSRFKey []byte

	// RefreshInterval is how often the overview, the task list and the
	// processes page reload their data in the browser, while the user has
	// not paused it. A negative value turns auto-refresh off; a positive
	// one must be at least a second. Defaults to RefreshIntervalDefault.
	RefreshInterval time.Duration

	// PageSize is how many tasks a page of the list shows, at most
	// MaxPageSize (a URL can ask for another size with limit=). Defaults to
	// PageSizeDefault.
	PageSize int

	// Logger logs backend errors, refused requests and the actions taken.
	// Defaults to slog.Default().
	Logger *slog.Logger
}

// withDefaults returns c with its defaults filled in, or an error wrapping
// ErrInvalidConfig.
func (c Config) withDefaults() (Config, error) {
	if c.Title == "" {
		c.Title = TitleDefault
	}
	if c.Prefix != "" {
		if !strings.HasPrefix(c.Prefix, "/") || strings.ContainsAny(c.Prefix, "?#") {
			return c, fmt.Errorf("%w: Prefix %q must be a path that starts with /", ErrInvalidConfig, c.Prefix)
		}
		c.Prefix = strings.TrimRight(c.Prefix, "/")
	}
	switch {
	case c.CSRFKey == nil:
		c.CSRFKey = make([]byte, 32)
		_, _ = rand.Read(c.CSRFKey) // never fails (crypto/rand panics instead)
	case len(c.CSRFKey) < MinCSRFKeyLen:
		return c, fmt.Errorf("%w: CSRFKey has %d bytes, at least %d are needed", ErrInvalidConfig, len(c.CSRFKey), MinCSRFKeyLen)
	default:
		c.CSRFKey = bytes.Clone(c.CSRFKey)
	}
	switch {
	case c.RefreshInterval == 0:
		c.RefreshInterval = RefreshIntervalDefault
	case c.RefreshInterval > 0 && c.RefreshInterval < time.Second:
		return c, fmt.Errorf("%w: RefreshInterval %v is under a second", ErrInvalidConfig, c.RefreshInterval)
	}
	switch {
	case c.PageSize == 0:
		c.PageSize = PageSizeDefault
	case c.PageSize < 0 || c.PageSize > MaxPageSize:
		return c, fmt.Errorf("%w: PageSize %d is not between 1 and %d", ErrInvalidConfig, c.PageSize, MaxPageSize)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// Handler serves the dashboard. It is safe for concurrent use. Each request
// calls the Backend with the request's context, so a client that goes away
// cancels its queries.
type Handler struct {
	backend Backend
	cfg     Config
	mux     *http.ServeMux
	cross   *http.CrossOriginProtection
	now     func() time.Time
}

// New returns the dashboard's handler for backend, usually a
// *backie.PgQueue, or an error wrapping ErrInvalidConfig. It has no login of
// its own: wrap it in the service's authentication middleware.
func New(backend Backend, cfg Config) (*Handler, error) {
	if backend == nil {
		return nil, fmt.Errorf("backieui: %w: nil Backend", ErrInvalidConfig)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("backieui: %w", err)
	}
	h := &Handler{
		backend: backend,
		cfg:     cfg,
		mux:     http.NewServeMux(),
		cross:   http.NewCrossOriginProtection(),
		now:     time.Now,
	}
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	h.mux.HandleFunc("GET /{$}", h.overview)
	h.mux.HandleFunc("GET /tasks", h.taskList)
	h.mux.HandleFunc("GET /tasks/{id}", h.task)
	h.mux.HandleFunc("POST /tasks/{id}/{action}", h.taskAction)
	h.mux.HandleFunc("POST /types/{action}", h.typeAction)
	h.mux.HandleFunc("GET /processes", h.processes)
	h.mux.HandleFunc("GET /static/{file}", h.static)
	h.mux.HandleFunc("/", h.notFound)
}

// ServeHTTP serves one request of the dashboard.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.cfg.Logger.ErrorContext(r.Context(), "backieui: handler panicked", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			h.renderError(w, r, http.StatusInternalServerError, "Something went wrong",
				"The dashboard failed to render this page. The error is in the service's log.")
		}
	}()
	if h.cfg.Prefix != "" {
		rest, ok := strings.CutPrefix(r.URL.Path, h.cfg.Prefix)
		if !ok || (rest != "" && rest[0] != '/') {
			http.NotFound(w, r)
			return
		}
		if rest == "" {
			// The overview's links are relative to a path that ends in /.
			w.Header().Set("Location", h.cfg.Prefix+"/")
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		r2.URL = new(url.URL)
		*r2.URL = *r.URL
		r2.URL.Path, r2.URL.RawPath = rest, ""
		r = r2
	} else if !strings.HasPrefix(r.URL.Path, "/") {
		// Behind http.StripPrefix with a prefix that ends in a slash.
		r2 := new(http.Request)
		*r2 = *r
		r2.URL = new(url.URL)
		*r2.URL = *r.URL
		r2.URL.Path, r2.URL.RawPath = "/"+r.URL.Path, ""
		r = r2
	}
	setSecurityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if h.cfg.ReadOnly {
			h.cfg.Logger.WarnContext(r.Context(), "backieui: refused an action: the dashboard is read-only", "method", r.Method, "path", r.URL.Path)
			h.renderError(w, r, http.StatusForbidden, "This dashboard is read-only",
				"Actions (retry, cancel, delete, pause and resume) are turned off here.")
			return
		}
		if err := h.checkCSRF(r); err != nil {
			h.cfg.Logger.WarnContext(r.Context(), "backieui: refused an action without a valid CSRF token", "method", r.Method, "path", r.URL.Path, "reason", err)
			h.renderError(w, r, http.StatusForbidden, "This action was refused",
				"The form did not come from this dashboard, or it is too old ("+err.Error()+"). Reload the page and try again.")
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

func setSecurityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
}

// base is the relative URL of the dashboard's root from the page at path
// (a path inside the dashboard): "./" for /, /tasks and /processes, "../"
// for /tasks/{id}... Every link is relative, so the dashboard works under
// any prefix.
func base(path string) string {
	depth := strings.Count(strings.TrimPrefix(path, "/"), "/")
	if depth == 0 {
		return "./"
	}
	return strings.Repeat("../", depth)
}

// mountPath is the absolute path of the dashboard's root as the browser
// sees it, ending in /, for cookies.
func (h *Handler) mountPath(r *http.Request) string {
	if h.cfg.Prefix != "" {
		return h.cfg.Prefix + "/"
	}
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil || u.Path == "" {
		return "/"
	}
	mount, ok := strings.CutSuffix(u.Path, r.URL.Path)
	if !ok {
		return "/"
	}
	return strings.TrimRight(mount, "/") + "/"
}

// redirect sends the browser to target, a path inside the dashboard
// ("/tasks?state=failed"), with 303 See Other.
func redirect(w http.ResponseWriter, r *http.Request, target string) {
	w.Header().Set("Location", base(r.URL.Path)+strings.TrimPrefix(target, "/"))
	w.WriteHeader(http.StatusSeeOther)
}

// localPath reports whether s is a path inside the dashboard that a form
// may name as where to go back to.
func localPath(s string) bool {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\r\n") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "" && u.Host == "" && !strings.Contains(u.Path, "..")
}
