package backieui

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/backie-go/backie"
)

// fakeBackend is an in-memory Backend with the semantics the library
// documents, for tests that need no database.
type fakeBackend struct {
	mu         sync.Mutex
	tasks      map[backie.TaskID]*backie.TaskRecord
	paused     map[backie.TaskType]time.Time
	procs      []backie.Process
	throughput []backie.Throughput
	countedAt  time.Time

	// filters records the filters ListTasks was called with.
	filters []backie.ListFilter
	// err, when set, is returned by every call.
	err error
	// panicking makes every call panic.
	panicking bool
}

var _ Backend = (*fakeBackend)(nil)

func newFakeBackend() *fakeBackend {
	return &fakeBackend{tasks: map[backie.TaskID]*backie.TaskRecord{}, paused: map[backie.TaskType]time.Time{}}
}

func (f *fakeBackend) check() error {
	if f.panicking {
		panic("fake backend panics")
	}
	return f.err
}

func (f *fakeBackend) add(r *backie.TaskRecord) *backie.TaskRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.ID == (uuid.UUID{}) {
		r.ID = uuid.Must(uuid.NewV7())
	}
	f.tasks[r.ID] = r
	return r
}

func (f *fakeBackend) get(id backie.TaskID) *backie.TaskRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := *f.tasks[id]
	return &c
}

func (f *fakeBackend) lastFilter() backie.ListFilter {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.filters) == 0 {
		return backie.ListFilter{}
	}
	return f.filters[len(f.filters)-1]
}

func (f *fakeBackend) FindTask(_ context.Context, id backie.TaskID) (*backie.TaskRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return nil, err
	}
	r, ok := f.tasks[id]
	if !ok {
		return nil, fmt.Errorf("backie: find task: %w", backie.ErrNotFound)
	}
	c := *r
	return &c, nil
}

// listTime is the time the list is ordered by, as the library documents.
func fakeListTime(r *backie.TaskRecord, state backie.TaskState) time.Time {
	switch state {
	case backie.StateReady, backie.StateScheduled:
		return r.ScheduledAt
	case backie.StateRunning:
		return *r.RunningAt
	case backie.StateDone, backie.StateFailed, backie.StateCancelled:
		return *r.DoneAt
	}
	return r.CreatedAt
}

func (f *fakeBackend) ListTasks(_ context.Context, lf backie.ListFilter) (*backie.TaskPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, lf)
	if err := f.check(); err != nil {
		return nil, err
	}
	limit := cmp.Or(lf.Limit, 50)
	if limit < 0 || limit > 1000 {
		return nil, fmt.Errorf("backie: list tasks: %w: limit %d", backie.ErrInvalidFilter, lf.Limit)
	}
	var rs []*backie.TaskRecord
	for _, r := range f.tasks {
		switch {
		case lf.State != "" && r.State() != lf.State,
			len(lf.Types) > 0 && !slices.Contains(lf.Types, r.Type),
			len(lf.Names) > 0 && !slices.Contains(lf.Names, r.Name),
			len(lf.Priorities) > 0 && !slices.Contains(lf.Priorities, r.Priority):
			continue
		}
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b *backie.TaskRecord) int {
		c := cmp.Or(fakeListTime(a, lf.State).Compare(fakeListTime(b, lf.State)), slices.Compare(a.ID[:], b.ID[:]))
		if lf.Oldest {
			return c
		}
		return -c
	})
	start := 0
	if lf.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(lf.Cursor)
		id, err2 := uuid.FromBytes(b)
		if err != nil || err2 != nil {
			return nil, fmt.Errorf("backie: list tasks: %w: bad cursor", backie.ErrInvalidFilter)
		}
		start = slices.IndexFunc(rs, func(r *backie.TaskRecord) bool { return r.ID == id }) + 1
		if start == 0 {
			return nil, fmt.Errorf("backie: list tasks: %w: cursor of a task that left the list", backie.ErrInvalidFilter)
		}
	}
	page := &backie.TaskPage{}
	for _, r := range rs[start:min(start+limit, len(rs))] {
		c := *r
		page.Tasks = append(page.Tasks, &c)
	}
	if start+limit < len(rs) {
		last := page.Tasks[len(page.Tasks)-1].ID
		page.Next = base64.RawURLEncoding.EncodeToString(last[:])
	}
	return page, nil
}

func (f *fakeBackend) Stats(_ context.Context) (*backie.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return nil, err
	}
	now := time.Now()
	st := &backie.Stats{CountedAt: cmp.Or(f.countedAt, now.Add(-2*time.Second)), Processes: slices.Clone(f.procs), Throughput: slices.Clone(f.throughput)}
	types := map[backie.TaskType]*backie.TypeStats{}
	for _, r := range f.tasks {
		ts := types[r.Type]
		if ts == nil {
			ts = &backie.TypeStats{Type: r.Type}
			types[r.Type] = ts
		}
		s := r.State()
		inc := func(c *backie.StateCounts) {
			switch s {
			case backie.StateReady:
				c.Ready++
			case backie.StateScheduled:
				c.Scheduled++
			case backie.StateRunning:
				c.Running++
			case backie.StateDone:
				c.Done++
			case backie.StateFailed:
				c.Failed++
			case backie.StateCancelled:
				c.Cancelled++
			}
		}
		inc(&st.Totals)
		inc(&ts.StateCounts)
		if s == backie.StateReady {
			ts.Lag = max(ts.Lag, now.Sub(r.ScheduledAt))
		}
	}
	for t, at := range f.paused {
		st.Paused = append(st.Paused, backie.PausedType{Type: t, PausedAt: at})
		if types[t] == nil {
			types[t] = &backie.TypeStats{Type: t}
		}
		types[t].Paused = true
	}
	slices.SortFunc(st.Paused, func(a, b backie.PausedType) int { return cmp.Compare(a.Type, b.Type) })
	for _, ts := range types {
		st.Types = append(st.Types, *ts)
	}
	slices.SortFunc(st.Types, func(a, b backie.TypeStats) int { return cmp.Compare(a.Type, b.Type) })
	return st, nil
}

func (f *fakeBackend) Processes(_ context.Context) ([]backie.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return nil, err
	}
	return slices.Clone(f.procs), nil
}

func (f *fakeBackend) CancelTask(_ context.Context, id backie.TaskID) (*backie.TaskRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return nil, err
	}
	r, ok := f.tasks[id]
	if !ok {
		return nil, fmt.Errorf("backie: cancel task: %w", backie.ErrNotFound)
	}
	switch r.State() {
	case backie.StateDone, backie.StateFailed, backie.StateCancelled:
		return nil, fmt.Errorf("backie: cancel task: %w", backie.ErrTaskFinished)
	}
	// As the library does: a running task is cancelled when its attempt
	// ends, and reads as Running until then.
	now := time.Now()
	r.CancelledAt = &now
	if r.RunningAt == nil || r.DoneAt != nil {
		r.DoneAt = &now
	}
	c := *r
	return &c, nil
}

func (f *fakeBackend) RetryTask(_ context.Context, id backie.TaskID) (*backie.TaskRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return nil, err
	}
	r, ok := f.tasks[id]
	if !ok {
		return nil, fmt.Errorf("backie: retry task: %w", backie.ErrNotFound)
	}
	if r.State() == backie.StateRunning {
		return nil, fmt.Errorf("backie: retry task: %w", backie.ErrTaskRunning)
	}
	r.ScheduledAt, r.RunningAt, r.DoneAt, r.CancelledAt = time.Now(), nil, nil, nil
	c := *r
	return &c, nil
}

func (f *fakeBackend) RemoveTask(_ context.Context, id backie.TaskID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	if _, ok := f.tasks[id]; !ok {
		return fmt.Errorf("backie: remove task: %w", backie.ErrNotFound)
	}
	delete(f.tasks, id)
	return nil
}

func (f *fakeBackend) PauseType(_ context.Context, t backie.TaskType) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	if _, ok := f.paused[t]; !ok {
		f.paused[t] = time.Now()
	}
	return nil
}

func (f *fakeBackend) ResumeType(_ context.Context, t backie.TaskType) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	delete(f.paused, t)
	return nil
}

func (f *fakeBackend) PausedTypes(_ context.Context) ([]backie.PausedType, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(); err != nil {
		return nil, err
	}
	var ps []backie.PausedType
	for t, at := range f.paused {
		ps = append(ps, backie.PausedType{Type: t, PausedAt: at})
	}
	return ps, nil
}

// seeded is a fake backend holding a realistic mix of tasks, processes and
// an hour of throughput, the same for every seed value.
func seeded(seed uint64) *fakeBackend {
	f := newFakeBackend()
	rng := rand.New(rand.NewPCG(seed, 42))
	now := time.Now()
	type kind struct {
		name    string
		typ     backie.TaskType
		payload func() any
		err     int // index in errs of the way it fails
	}
	kinds := []kind{
		{"send_welcome_email", "email", func() any {
			return map[string]any{"to": fmt.Sprintf("user%d@example.com", rng.IntN(9000)+1000), "template": "welcome", "locale": "en"}
		}, 0},
		{"send_receipt", "email", func() any {
			return map[string]any{"to": fmt.Sprintf("buyer%d@example.com", rng.IntN(900)+100), "order_id": rng.IntN(90000) + 10000, "amount_cents": rng.IntN(20000) + 500, "currency": "EUR"}
		}, 0},
		{"charge_invoice", "billing", func() any {
			return map[string]any{"invoice_id": fmt.Sprintf("in_%08x", rng.Uint32()), "customer": fmt.Sprintf("cus_%06x", rng.IntN(1<<24)), "attempt_3ds": rng.IntN(2) == 0}
		}, 1},
		{"sync_customer", "billing", func() any {
			return map[string]any{"customer": fmt.Sprintf("cus_%06x", rng.IntN(1<<24)), "fields": []string{"email", "address", "tax_id"}}
		}, 4},
		{"deliver_webhook", "webhooks", func() any {
			return map[string]any{"endpoint": fmt.Sprintf("https://hooks.example.org/%d", rng.IntN(50)), "event": "order.paid", "event_id": uuid.NewString(), "signature_version": 2}
		}, 2},
		{"generate_report", "reports", func() any {
			return map[string]any{"report": "monthly_revenue", "month": "2025-10", "format": "pdf", "filters": map[string]any{"region": "eu-west", "include_refunds": true}}
		}, 3},
		{"resize_image", "media", func() any {
			return map[string]any{"bucket": "uploads", "key": fmt.Sprintf("avatars/%d.png", rng.IntN(100000)), "sizes": []int{64, 128, 512}}
		}, 3},
	}
	errs := []backie.ErrorInfo{
		{Message: "smtp: 451 4.7.1 rate limited, try again later", Kind: backie.ErrorKindError},
		{Message: "charge invoice: card_declined: insufficient_funds", Kind: backie.ErrorKindError, Permanent: true},
		{Message: `deliver webhook: Post "https://hooks.example.org/12": context deadline exceeded`, Kind: backie.ErrorKindTimeout},
		{Message: "runtime error: invalid memory address or nil pointer dereference", Kind: backie.ErrorKindPanic, Stack: panicStack},
		{Message: "sync customer: billing API: 503 Service Unavailable", Kind: backie.ErrorKindError},
	}
	procIDs := []uuid.UUID{uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())}
	f.procs = []backie.Process{
		{ID: procIDs[0], Host: "worker-7f9c4", PID: 4127, TaskNames: []string{"send_welcome_email", "send_receipt", "deliver_webhook", "resize_image"}, Workers: 25, Running: 9, StartedAt: now.Add(-3*time.Hour - 12*time.Minute), HeartbeatAt: now.Add(-2 * time.Second), Leader: true},
		{ID: procIDs[1], Host: "worker-b21e0", PID: 4133, TaskNames: []string{"send_welcome_email", "send_receipt", "deliver_webhook", "resize_image"}, Workers: 25, Running: 14, StartedAt: now.Add(-3*time.Hour - 11*time.Minute), HeartbeatAt: now.Add(-4 * time.Second)},
		{ID: procIDs[2], Host: "billing-0", PID: 88, TaskNames: []string{"charge_invoice", "sync_customer", "generate_report"}, TaskTypes: []backie.TaskType{"billing", "reports"}, Workers: 5, Running: 2, StartedAt: now.Add(-26 * time.Minute), HeartbeatAt: now.Add(-1 * time.Second)},
	}
	states := []backie.TaskState{backie.StateDone, backie.StateDone, backie.StateDone, backie.StateReady, backie.StateReady,
		backie.StateScheduled, backie.StateRunning, backie.StateFailed, backie.StateCancelled}
	for i := range 240 {
		k := kinds[rng.IntN(len(kinds))]
		payload, _ := json.Marshal(k.payload())
		created := now.Add(-time.Duration(rng.IntN(3600*6)) * time.Second)
		id := uuid.Must(uuid.NewV7())
		r := &backie.TaskRecord{
			ID: id, Name: k.name, Type: k.typ, Priority: []int{1, 2, 2, 2, 2, 3, 4}[rng.IntN(7)],
			Payload: payload, Timeout: 2 * time.Minute, CreatedAt: created, ScheduledAt: created,
			MaxRetries: []int{5, 20, 20}[rng.IntN(3)], Attempt: 0,
		}
		if k.name == "send_receipt" {
			r.UniqHash = backie.TaskHash(fmt.Sprintf("%x", rng.Uint64()))
		}
		state := states[i%len(states)]
		proc := procIDs[rng.IntN(2)]
		if k.typ == "billing" || k.typ == "reports" {
			proc = procIDs[2]
		}
		switch state {
		case backie.StateReady:
			// Pools keep up, except with the paused type.
			r.ScheduledAt = now.Add(-time.Duration(rng.IntN(2500)) * time.Millisecond)
			if k.typ == "reports" {
				r.ScheduledAt = now.Add(-time.Duration(rng.IntN(17*60)) * time.Second)
			}
			if r.ScheduledAt.Before(r.CreatedAt) {
				r.CreatedAt = r.ScheduledAt
			}
		case backie.StateScheduled:
			r.ScheduledAt = now.Add(time.Duration(rng.IntN(7200)+60) * time.Second)
			if rng.IntN(2) == 0 {
				r.Retries, r.Attempt = 1+rng.IntN(3), 1+rng.IntN(3)
				e := errs[k.err]
				e.Retries, e.At, e.Permanent = r.Retries-1, now.Add(-time.Minute), false
				r.Error = &e
				r.ProcessID = &proc
			}
		case backie.StateRunning:
			t := now.Add(-time.Duration(rng.IntN(50)+1) * time.Second)
			r.RunningAt, r.Attempt, r.ProcessID = &t, 1, &proc
		case backie.StateDone:
			t := earliest(created.Add(time.Duration(rng.IntN(4000)+20)*time.Millisecond), now.Add(-time.Second))
			s := t.Add(-time.Second)
			r.RunningAt, r.DoneAt, r.Attempt, r.ProcessID = &s, &t, 1, &proc
		case backie.StateFailed:
			t := earliest(created.Add(time.Duration(rng.IntN(600)+5)*time.Second), now.Add(-3*time.Second))
			s := t.Add(-2 * time.Second)
			e := errs[k.err]
			r.Retries, r.Attempt = r.MaxRetries, r.MaxRetries+1
			if e.Permanent {
				r.Retries, r.Attempt = 0, 1
			}
			e.Retries, e.At = r.Retries, t
			r.RunningAt, r.DoneAt, r.Error, r.ProcessID = &s, &t, &e, &proc
		case backie.StateCancelled:
			t := earliest(created.Add(time.Duration(rng.IntN(600)+5)*time.Second), now.Add(-3*time.Second))
			r.CancelledAt, r.DoneAt = &t, &t
		}
		f.tasks[id] = r
	}
	f.paused["reports"] = now.Add(-17 * time.Minute)
	start := now.Truncate(time.Minute).Add(-59 * time.Minute)
	for i := range 60 {
		base := 420 + 180*float64((i*7)%23)/23
		if i > 40 && i < 47 {
			base *= 1.8 // a burst
		}
		tp := backie.Throughput{Minute: start.Add(time.Duration(i) * time.Minute), Done: int64(base) + rng.Int64N(60)}
		tp.Retried = rng.Int64N(12)
		tp.Failed = rng.Int64N(4)
		if i == 44 || i == 45 {
			tp.Failed += 35 // an outage of the mail provider
			tp.Retried += 60
		}
		f.throughput = append(f.throughput, tp)
	}
	return f
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

const panicStack = `goroutine 1287 [running]:
runtime/debug.Stack()
	/usr/local/go/src/runtime/debug/stack.go:26 +0x5e
github.com/backie-go/backie.(*worker).runTask.func1()
	/app/vendor/github.com/backie-go/backie/worker.go:214 +0x8c
panic({0x9b1e40?, 0xe3d7a0?})
	/usr/local/go/src/runtime/panic.go:785 +0x132
example.com/shop/tasks.(*ResizeImage).Run(0xc0004a2f00, {0xb2c1e8, 0xc000512a50}, {0xb2f7c0, 0xc0001a4b40})
	/app/tasks/media.go:48 +0x1b7
github.com/backie-go/backie.(*worker).runTask(0xc0002c6000, {0xb2c1e8, 0xc000512a50}, 0xc0004a2e80)
	/app/vendor/github.com/backie-go/backie/worker.go:231 +0x2a5
created by github.com/backie-go/backie.(*WorkerPool).Start in goroutine 1
	/app/vendor/github.com/backie-go/backie/pool.go:162 +0x3c5`
