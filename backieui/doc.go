// Package backieui is a web dashboard for Backie: an http.Handler that a
// service mounts under a path of its choice to watch and steer its tasks.
//
// # Pages
//
//   - Overview: tasks by state and by type, attempts finished per minute
//     over the last hour (done, retried, failed), the lag of each type
//     (how long its oldest ready task has been due), the paused types and
//     the live worker pools.
//   - Tasks: the task list, filtered by state, type, name and priority, in
//     the URL's query (so a filtered list can be bookmarked and shared),
//     paged with the backend's cursors (keyset pagination: a page costs the
//     same on the first page and deep into a million rows).
//   - A task: its payload as indented JSON, its last error with its kind
//     and stack, every timestamp, retries and attempts, and the process
//     that holds it.
//   - Processes: the live worker pools, their workers and heartbeats.
//
// The overview, the list and the processes page refresh themselves every
// few seconds ([Config].RefreshInterval); a button in the header pauses
// and resumes this, and the browser remembers the choice.
//
// # Mounting
//
// [New] returns the handler. Every link it renders is relative, so it works
// under any path prefix; give it its prefix either way:
//
//	ui, err := backieui.New(queue, backieui.Config{})
//	mux.Handle("/admin/tasks/", http.StripPrefix("/admin/tasks", ui))
//
//	ui, err := backieui.New(queue, backieui.Config{Prefix: "/admin/tasks"})
//	mux.Handle("/admin/tasks/", ui)
//
// The first argument is a [Backend], which *backie.PgQueue is.
//
// # Access
//
// The dashboard has no login of its own: wrap it in the middleware that
// guards the rest of the service's admin pages (a session check, basic
// auth, an authenticating proxy's header). [Config].ReadOnly hides the
// actions and refuses them.
//
// # Actions
//
// Retry, cancel and delete a task, pause and resume a task type. Each is a
// POST form that carries a CSRF token: an HMAC of a random value that the
// dashboard keeps in a cookie of the browser, signed with
// [Config].CSRFKey. A POST without the matching token, or sent by a page of
// another origin (the browser's Sec-Fetch-Site and Origin headers), is
// refused with 403 Forbidden. After an action, the browser goes back to the
// page it came from, which says what happened ("Task 0193a5b2…4c1f
// cancelled.").
//
// # Assets
//
// The templates, the stylesheet, the script and the icon are embedded in
// the binary: the dashboard loads nothing from elsewhere (no CDN, no web
// fonts) and works offline. Its pages send a Content-Security-Policy that
// allows only the dashboard's own files.
package backieui
