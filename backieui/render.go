package backieui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

//go:embed templates static
var assets embed.FS

// pages are the templates, each page parsed with the layout.
var pages = func() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html"))
	m := map[string]*template.Template{}
	for _, name := range []string{"overview", "tasks", "task", "processes", "error"} {
		m[name] = template.Must(template.Must(layout.Clone()).ParseFS(assets, "templates/"+name+".html"))
	}
	return m
}()

// assetVersion is a hash of the static files, added to their URLs so that
// browsers may cache them for good and still get a new release at once.
var assetVersion = func() string {
	h := sha256.New()
	_ = fs.WalkDir(assets, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		h.Write([]byte(p))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

// view is what every page's template gets.
type view struct {
	// AppTitle is Config.Title; Title the page's own title.
	AppTitle, Title string
	// Section is the header's active section: overview, tasks, processes;
	// "" on error pages.
	Section string
	// Base is the relative URL of the dashboard's root from this page.
	Base string
	// Static is the relative URL of the static files, with a trailing /,
	// and Version their version.
	Static, Version string
	// CSRF is the token of the page's forms.
	CSRF string
	// Here is the page's path and query inside the dashboard, where an
	// action on it comes back to.
	Here     string
	ReadOnly bool
	// RefreshMS is the auto-refresh interval in milliseconds, 0 for none.
	RefreshMS int64
	Flash     *flash
	Now       time.Time
	Data      any
}

// newView fills in what every page shows.
func (h *Handler) newView(w http.ResponseWriter, r *http.Request, section, title string, data any) *view {
	v := &view{
		AppTitle: h.cfg.Title,
		Title:    title,
		Section:  section,
		Base:     base(r.URL.Path),
		Version:  assetVersion,
		ReadOnly: h.cfg.ReadOnly,
		Here:     r.URL.Path,
		Now:      h.now(),
		Data:     data,
	}
	v.Static = v.Base + "static/"
	if r.URL.RawQuery != "" {
		v.Here += "?" + r.URL.RawQuery
	}
	if !h.cfg.ReadOnly {
		v.CSRF = h.csrfToken(w, r)
		if section != "" { // error pages leave the message for the next page
			v.Flash = h.takeFlash(w, r)
		}
	}
	return v
}

// render executes a page into a buffer first, so that a template error
// becomes an error page rather than half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "backieui: render page", "page", name, "error", err)
		http.Error(w, "backieui: the page could not be rendered; the error is in the service's log", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// errorPage is the data of the error page.
type errorPage struct {
	Status  int
	Heading string
	Detail  string
	// Links are where to go from here: label and path inside the dashboard.
	Links [][2]string
}

// renderError renders the error page with status.
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, status int, heading, detail string, links ...[2]string) {
	if len(links) == 0 {
		links = [][2]string{{"Overview", ""}, {"All tasks", "tasks"}}
	}
	v := h.newView(w, r, "", heading, &errorPage{Status: status, Heading: heading, Detail: detail, Links: links})
	h.render(w, r, status, "error", v)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.renderError(w, r, http.StatusNotFound, "Page not found",
		"There is no page at "+r.URL.Path+" in this dashboard.")
}

// backendError renders the error page for an error of the backend.
func (h *Handler) backendError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	h.cfg.Logger.ErrorContext(r.Context(), "backieui: "+what, "path", r.URL.Path, "error", err)
	h.renderError(w, r, http.StatusInternalServerError, "The task store did not answer",
		"Could not "+what+": "+err.Error())
}

// static serves the embedded CSS, script and icon.
func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := assets.ReadFile("static/" + name)
	if err != nil {
		h.notFound(w, r)
		return
	}
	hd := w.Header()
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		hd.Set("Content-Type", ct)
	}
	if r.URL.Query().Get("v") == assetVersion {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	hd.Set("ETag", `"`+assetVersion+`"`)
	if r.Header.Get("If-None-Match") == `"`+assetVersion+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
