package backie_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// Report builds a report; it needs nothing but its payload.
type Report struct {
	backie.TaskDefaults
	Name string `json:"name"`
}

// reportsRun carries the names of the reports run, for the examples.
var reportsRun = make(chan string, 8)

func (r *Report) Run(ctx context.Context, q backie.Queue) error {
	reportsRun <- r.Name
	return nil
}

// TaskType routes reports to their own type, so that they can be paused.
func (r *Report) TaskType() backie.TaskType { return "reports" }

// exampleQueue returns a queue that knows Report, on a fresh schema.
func exampleQueue() (*backie.PgQueue, func()) {
	db, cleanup := dbtest.ExamplePool()
	reg := backie.NewRegistry()
	if err := backie.Register[*Report](reg, "report"); err != nil {
		panic(err)
	}
	return backie.NewPgQueue(db, reg), cleanup
}

// exampleStart starts a pool of one worker on q; the returned function
// stops it.
func exampleStart(q *backie.PgQueue, cfg backie.Config) func() {
	cfg.Workers = max(cfg.Workers, 1)
	cfg.Logger = backie.DiscardLogger()
	pool, err := backie.NewWorkerPool(q, cfg)
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	if err := pool.Start(ctx); err != nil {
		panic(err)
	}
	return func() { stop(); pool.Wait() }
}

// Due tasks run by priority: PriorityUrgent first, whatever their age. A
// task's Priority method sets its own; WithPriority overrides it for one
// enqueue.
func ExampleWithPriority() {
	q, cleanup := exampleQueue()
	defer cleanup()
	ctx := context.Background()
	for _, r := range []struct {
		name     string
		priority int
	}{{"weekly", backie.PriorityLow}, {"daily", backie.PriorityDefault}, {"incident", backie.PriorityUrgent}} {
		if _, err := q.CreateTask(ctx, &Report{Name: r.name}, backie.WithPriority(r.priority)); err != nil {
			panic(err)
		}
	}
	stop := exampleStart(q, backie.Config{})
	defer stop()
	for range 3 {
		fmt.Println(<-reportsRun)
	}
	// Output:
	// incident
	// daily
	// weekly
}

// A waiting task is cancelled at once; RetryTask makes a cancelled (or
// failed, or scheduled) task Ready again.
func ExamplePgQueue_CancelTask() {
	q, cleanup := exampleQueue()
	defer cleanup()
	ctx := context.Background()
	rec, err := q.CreateTask(ctx, &Report{Name: "monthly"}, backie.RunAfter(time.Hour))
	if err != nil {
		panic(err)
	}
	fmt.Println(rec.State())
	rec, err = q.CancelTask(ctx, rec.ID)
	fmt.Println(rec.State(), err)
	_, err = q.CancelTask(ctx, rec.ID)
	fmt.Println(errors.Is(err, backie.ErrTaskFinished))
	rec, err = q.RetryTask(ctx, rec.ID)
	fmt.Println(rec.State(), err)
	// Output:
	// scheduled
	// cancelled <nil>
	// true
	// ready <nil>
}

// A paused type's tasks wait, in every pool of every process, until it is
// resumed.
func ExamplePgQueue_PauseType() {
	q, cleanup := exampleQueue()
	defer cleanup()
	ctx := context.Background()
	if err := q.PauseType(ctx, "reports"); err != nil {
		panic(err)
	}
	paused, _ := q.PausedTypes(ctx)
	fmt.Println("paused:", paused[0].Type)
	if _, err := q.CreateTask(ctx, &Report{Name: "quarterly"}); err != nil {
		panic(err)
	}
	stop := exampleStart(q, backie.Config{})
	defer stop()
	if err := q.ResumeType(ctx, "reports"); err != nil {
		panic(err)
	}
	fmt.Println("ran:", <-reportsRun)
	// Output:
	// paused: reports
	// ran: quarterly
}

// A periodic task is enqueued at each tick of its schedule, once across
// every pool that lists it.
func ExamplePeriodicTask() {
	q, cleanup := exampleQueue()
	defer cleanup()
	stop := exampleStart(q, backie.Config{Periodic: []backie.PeriodicTask{{
		Name:    "heartbeat-report",
		Cron:    "@every 1s", // or "*/5 * * * *", "@hourly", "0 9 * * 1-5"...
		NewTask: func() backie.Task { return &Report{Name: "every second"} },
	}}})
	defer stop()
	fmt.Println(<-reportsRun)
	// Output:
	// every second
}

// ListTasks reads a page at a time, from where the previous page ended.
func ExamplePgQueue_ListTasks() {
	q, cleanup := exampleQueue()
	defer cleanup()
	ctx := context.Background()
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		if _, err := q.CreateTask(ctx, &Report{Name: name}); err != nil {
			panic(err)
		}
	}
	filter := backie.ListFilter{State: backie.StateReady, Oldest: true, Limit: 2}
	for page := 1; ; page++ {
		p, err := q.ListTasks(ctx, filter)
		if err != nil {
			panic(err)
		}
		var names []string
		for _, t := range p.Tasks {
			names = append(names, string(t.Payload))
		}
		fmt.Println(page, names)
		if p.Next == "" {
			break
		}
		filter.Cursor = p.Next
	}
	// Output:
	// 1 [{"name": "a"} {"name": "b"}]
	// 2 [{"name": "c"} {"name": "d"}]
	// 3 [{"name": "e"}]
}

// Stats counts the tasks by state and type, with each type's lag.
func ExamplePgQueue_Stats() {
	q, cleanup := exampleQueue()
	defer cleanup()
	ctx := context.Background()
	for _, name := range []string{"a", "b"} {
		if _, err := q.CreateTask(ctx, &Report{Name: name}, backie.RunAt(time.Now().Add(-time.Minute))); err != nil {
			panic(err)
		}
	}
	st, err := q.Stats(ctx)
	if err != nil {
		panic(err)
	}
	for _, ts := range st.Types {
		fmt.Printf("%s: %d ready, lag about %v\n", ts.Type, ts.Ready, ts.Lag.Round(time.Minute))
	}
	// Output:
	// reports: 2 ready, lag about 1m0s
}
