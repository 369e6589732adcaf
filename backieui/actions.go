package backieui

import (
	"errors"
	"net/http"

	"github.com/backie-go/backie"
)

// Actions are POST forms (a CSRF token checked by ServeHTTP) that redirect
// back, with 303 See Other, to the page named by the form's "next" field,
// where a flash message says what happened.

func (h *Handler) taskAction(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if action != "retry" && action != "cancel" && action != "delete" {
		h.notFound(w, r)
		return
	}
	id, ok := h.parseID(w, r)
	if !ok {
		return
	}
	taskPath := "/tasks/" + id.String()
	next := r.PostFormValue("next")
	if !localPath(next) {
		next = taskPath
	}
	short := "Task " + shortID(id)
	ctx := r.Context()
	var (
		rec *backie.TaskRecord
		err error
		msg string
	)
	switch action {
	case "retry":
		rec, err = h.backend.RetryTask(ctx, id)
		msg = short + " retried: it is ready to run now."
	case "cancel":
		rec, err = h.backend.CancelTask(ctx, id)
		msg = short + " cancelled."
		if rec != nil && rec.State() != backie.StateCancelled {
			msg = short + " cancelled: its running attempt has been told to stop."
		}
	case "delete":
		err = h.backend.RemoveTask(ctx, id)
		msg = short + " deleted."
		if next == taskPath {
			next = "/tasks"
		}
	}
	switch {
	case err == nil:
		h.cfg.Logger.InfoContext(ctx, "backieui: task "+action, "task_id", id)
		h.setFlash(w, r, "ok", msg)
	case errors.Is(err, backie.ErrNotFound):
		h.setFlash(w, r, "error", short+" no longer exists: it was deleted, or removed after it finished.")
		next = "/tasks"
	case errors.Is(err, backie.ErrTaskRunning):
		h.setFlash(w, r, "error", short+" is running, so it cannot be "+pastTense(action)+". Cancel it, or wait for its attempt to end.")
	case errors.Is(err, backie.ErrUniqueConflict):
		h.setFlash(w, r, "error", short+" is unique, and another unfinished task of its name has the same hash: it cannot run again while that one is unfinished.")
	case errors.Is(err, backie.ErrTaskFinished):
		h.setFlash(w, r, "error", short+" has already finished, so there is nothing to cancel.")
	default:
		h.backendError(w, r, action+" task "+id.String(), err)
		return
	}
	redirect(w, r, next)
}

func pastTense(action string) string {
	switch action {
	case "retry":
		return "retried"
	case "cancel":
		return "cancelled"
	case "delete":
		return "deleted"
	}
	return action + "d"
}

func (h *Handler) typeAction(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if action != "pause" && action != "resume" {
		h.notFound(w, r)
		return
	}
	t := backie.TaskType(r.PostFormValue("type"))
	if t == "" {
		h.renderError(w, r, http.StatusBadRequest, "No task type", "The form named no task type to "+action+".")
		return
	}
	next := r.PostFormValue("next")
	if !localPath(next) {
		next = "/"
	}
	var err error
	var msg string
	if action == "pause" {
		err = h.backend.PauseType(r.Context(), t)
		msg = "Type “" + string(t) + "” paused: pools claim none of its tasks until it is resumed. Running tasks finish."
	} else {
		err = h.backend.ResumeType(r.Context(), t)
		msg = "Type “" + string(t) + "” resumed: pools claim its tasks again."
	}
	if err != nil {
		h.backendError(w, r, action+" type "+string(t), err)
		return
	}
	h.cfg.Logger.InfoContext(r.Context(), "backieui: type "+action+"d", "task_type", t)
	h.setFlash(w, r, "ok", msg)
	redirect(w, r, next)
}
