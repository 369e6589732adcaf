package backietest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backie-go/backie"
)

// Want narrows what RequireEnqueued and RequireNotEnqueued look for, among
// the tasks of their Go type. Its zero value matches every task of the
// type; each field that is set must match.
type Want struct {
	// Payload is a value whose JSON the task's payload must contain, as
	// PostgreSQL's jsonb @> says: an object matches the objects that have
	// its keys with matching values, so a map names only the fields that
	// matter (map[string]any{"to": "ann@example.com"}); a struct names
	// every field it encodes. Defaults to nil: any payload.
	Payload any
	// State is the task's state now (TaskRecord.StateAt): by the test's
	// clock (time.Now) for a database, by the queue's clock
	// (RecordingQueueOptions.Now) for a RecordingQueue. Defaults to "":
	// any state.
	State backie.TaskState
	// Priority is the task's priority. Defaults to 0: any priority.
	Priority int
	// ScheduledAt is when the task is due, to within ScheduledWithin.
	// Defaults to the zero time: any time.
	ScheduledAt time.Time
	// ScheduledWithin is how far from ScheduledAt the task's scheduled_at
	// may be: enough to cover the time between a test's time.Now() and the
	// database's now() (or a RecordingQueue's clock) when the task was
	// enqueued with RunAfter. Defaults to 0: the same microsecond
	// (PostgreSQL keeps microseconds, and so does a RecordingQueue).
	ScheduledWithin time.Duration
	// Count is how many tasks must match (RequireEnqueued only). Defaults
	// to 0: at least one.
	Count int
}

// Found is a task RequireEnqueued found: its payload decoded into its Go
// type (without its registered constructor: dependencies are not set), and
// its record.
type Found[T backie.Task] struct {
	Task   T
	Record *backie.TaskRecord
}

// listedTasksMax is how many tasks a failure message lists.
const listedTasksMax = 20

// RequireEnqueued fails the test unless a task of Go type T that matches
// want is in q, a *backie.PgQueue (the committed tasks of its table) or a
// *RecordingQueue, and returns the tasks that match, oldest first. With
// Want.Count it fails unless exactly that many match. The failure message
// lists what was enqueued instead: name, type, state, priority,
// scheduled_at and payload of the newest tasks of any type.
//
//	found := backietest.RequireEnqueued[*SendEmail](t, queue, backietest.Want{
//		Payload: map[string]any{"to": "ann@example.com"},
//		State:   backie.StateScheduled,
//	})
//
// Finished tasks count: a task a pool ran and kept (KeepAll) is still
// there, in state done; one it removed is not.
func RequireEnqueued[T backie.Task](tb testing.TB, q Queue, want ...Want) []Found[T] {
	tb.Helper()
	src := sourceOf(tb, "RequireEnqueued", q)
	if src == nil {
		return nil
	}
	return requireEnqueued[T](tb, "RequireEnqueued", src, q.Registry(), wantOf(want))
}

// RequireEnqueuedTx is RequireEnqueued on the tasks tx sees: those it
// enqueued (q.CreateTaskTx) before it commits, and the committed ones.
func RequireEnqueuedTx[T backie.Task](tb testing.TB, q *backie.PgQueue, tx pgx.Tx, want ...Want) []Found[T] {
	tb.Helper()
	if q == nil || tx == nil {
		tb.Fatalf("backietest: RequireEnqueuedTx: nil queue or transaction")
		return nil
	}
	return requireEnqueued[T](tb, "RequireEnqueuedTx", txSource{q: q, tx: tx}, q.Registry(), wantOf(want))
}

// RequireNotEnqueued fails the test if a task of Go type T that matches
// want is in q (a *backie.PgQueue or a *RecordingQueue), and lists those
// tasks. Want.Count is not used.
func RequireNotEnqueued[T backie.Task](tb testing.TB, q Queue, want ...Want) {
	tb.Helper()
	src := sourceOf(tb, "RequireNotEnqueued", q)
	if src == nil {
		return
	}
	requireNotEnqueued[T](tb, "RequireNotEnqueued", src, q.Registry(), wantOf(want))
}

// RequireNotEnqueuedTx is RequireNotEnqueued on the tasks tx sees.
func RequireNotEnqueuedTx[T backie.Task](tb testing.TB, q *backie.PgQueue, tx pgx.Tx, want ...Want) {
	tb.Helper()
	if q == nil || tx == nil {
		tb.Fatalf("backietest: RequireNotEnqueuedTx: nil queue or transaction")
		return
	}
	requireNotEnqueued[T](tb, "RequireNotEnqueuedTx", txSource{q: q, tx: tx}, q.Registry(), wantOf(want))
}

func wantOf(want []Want) Want {
	if len(want) > 0 {
		return want[0]
	}
	return Want{}
}

func requireEnqueued[T backie.Task](tb testing.TB, op string, src source, reg *backie.Registry, w Want) []Found[T] {
	tb.Helper()
	name, matches, ok := find[T](tb, op, src, reg, w)
	if !ok {
		return nil
	}
	if len(matches) == 0 || (w.Count > 0 && len(matches) != w.Count) {
		what := fmt.Sprintf("%q (%s)%s", name, reflect.TypeFor[T](), w.describe())
		head := "no task " + what
		if w.Count > 0 {
			head = fmt.Sprintf("want %d task%s %s, found %d", w.Count, plural(w.Count), what, len(matches))
		}
		listing, err := listRecent(tb, src, matches)
		if err != nil {
			tb.Fatalf("backietest: %s: %s; and listing the tasks failed: %v", op, head, err)
			return nil
		}
		tb.Fatalf("backietest: %s: %s\n%s", op, head, listing)
		return nil
	}
	out := make([]Found[T], len(matches))
	for i, rec := range matches {
		task, err := decode[T](rec.Payload)
		if err != nil {
			tb.Fatalf("backietest: %s: task %s: decode its payload into %s: %v", op, rec.ID, reflect.TypeFor[T](), err)
			return nil
		}
		out[i] = Found[T]{Task: task, Record: rec}
	}
	return out
}

func requireNotEnqueued[T backie.Task](tb testing.TB, op string, src source, reg *backie.Registry, w Want) {
	tb.Helper()
	name, matches, ok := find[T](tb, op, src, reg, w)
	if !ok || len(matches) == 0 {
		return
	}
	tb.Fatalf("backietest: %s: %d task%s %q (%s)%s enqueued:\n%s", op, len(matches), plural(len(matches)), name,
		reflect.TypeFor[T](), w.describe(), listing(matches, src.now(), false, nil))
}

// find returns T's name and its tasks in src that match w; ok is false
// when it failed the test.
func find[T backie.Task](tb testing.TB, op string, src source, reg *backie.Registry, w Want) (name string, matches []*backie.TaskRecord, ok bool) {
	tb.Helper()
	ctx := tb.Context()
	name, err := nameOf[T](reg)
	if err != nil {
		tb.Fatalf("backietest: %s: the name of %s: %v", op, reflect.TypeFor[T](), err)
		return "", nil, false
	}
	m, err := w.matcher()
	if err != nil {
		tb.Fatalf("backietest: %s: %v", op, err)
		return "", nil, false
	}
	recs, err := src.named(ctx, name)
	if err != nil {
		tb.Fatalf("backietest: %s: read the tasks %q: %v", op, name, err)
		return "", nil, false
	}
	now := src.now()
	for _, rec := range recs {
		if m(rec, now) {
			matches = append(matches, rec)
		}
	}
	return name, matches, true
}

// matcher returns the test of w: whether a task matches, its state judged
// at now.
func (w Want) matcher() (func(rec *backie.TaskRecord, now time.Time) bool, error) {
	var payload any
	if w.Payload != nil {
		b, err := json.Marshal(w.Payload)
		if err != nil {
			return nil, fmt.Errorf("Want.Payload: %w", err)
		}
		if payload, err = decodeJSON(b); err != nil {
			return nil, fmt.Errorf("Want.Payload: %w", err)
		}
	}
	return func(rec *backie.TaskRecord, now time.Time) bool {
		if w.Priority != 0 && rec.Priority != w.Priority {
			return false
		}
		if w.State != "" && rec.StateAt(now) != w.State {
			return false
		}
		if !w.ScheduledAt.IsZero() {
			d := rec.ScheduledAt.Sub(w.ScheduledAt.Truncate(time.Microsecond))
			if d.Abs() > w.ScheduledWithin {
				return false
			}
		}
		if w.Payload != nil {
			stored, err := decodeJSON(rec.Payload)
			if err != nil || !jsonContains(stored, payload) {
				return false
			}
		}
		return true
	}, nil
}

// describe says what w asks for, after a task's name.
func (w Want) describe() string {
	var parts []string
	if w.Payload != nil {
		b, _ := json.Marshal(w.Payload) // matcher encoded it already
		parts = append(parts, "payload containing "+string(b))
	}
	if w.State != "" {
		parts = append(parts, "state "+string(w.State))
	}
	if w.Priority != 0 {
		parts = append(parts, fmt.Sprintf("priority %d", w.Priority))
	}
	if !w.ScheduledAt.IsZero() {
		s := "scheduled at " + formatTime(w.ScheduledAt)
		if w.ScheduledWithin > 0 {
			s += fmt.Sprintf(" (± %v)", w.ScheduledWithin)
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return ""
	}
	return " with " + strings.Join(parts, ", ")
}

// decode decodes payload into a new T.
func decode[T backie.Task](payload []byte) (T, error) {
	if rt := reflect.TypeFor[T](); rt.Kind() == reflect.Pointer {
		v := reflect.New(rt.Elem())
		err := json.Unmarshal(payload, v.Interface())
		return v.Interface().(T), err
	}
	var t T
	err := json.Unmarshal(payload, &t)
	return t, err
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
