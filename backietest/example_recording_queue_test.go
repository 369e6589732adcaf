package backietest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backietest"
)

// A unit test of code that enqueues, without a database: the recording
// queue records what it enqueued, due when its options say by the test's
// clock, and refuses what PgQueue refuses.
func ExampleRecordingQueue() {
	t := newExampleT() // in a test, the test's *testing.T
	defer t.finish()
	clock := time.Date(2031, 1, 2, 9, 0, 0, 0, time.UTC) // a fake clock's time
	queue := backietest.NewRecordingQueue(exampleRegistry(), backietest.RecordingQueueOptions{
		Now: func() time.Time { return clock },
	})

	if err := Signup(t.Context(), queue, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := queue.CreateTask(t.Context(), &Reminder{To: "bob@example.com"}, backie.RunAfter(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, e := range queue.Enqueued() {
		fmt.Println(e.Record.Name, string(e.Record.Payload), e.Record.StateAt(clock), e.Record.ScheduledAt.Format(time.Kitchen))
	}

	_, err := queue.CreateTask(t.Context(), &Unregistered{})
	fmt.Println(err)
	// Output:
	// welcome_email {"to":"ann@example.com"} ready 9:00AM
	// reminder {"to":"bob@example.com"} scheduled 10:00AM
	// backie: create task: task type not registered: *backietest_test.Unregistered
}

type tenantKey struct{}

// The service's enqueue middleware, the one its PgQueue has in
// QueueConfig.Middleware, runs on the recording queue too.
func ExampleRecordingQueueOptions() {
	t := newExampleT() // in a test, the test's *testing.T
	defer t.finish()
	tenant := func(ctx context.Context, recs []*backie.TaskRecord, next func(context.Context) error) error {
		for _, rec := range recs {
			rec.Metadata = map[string]string{"tenant": ctx.Value(tenantKey{}).(string)}
		}
		return next(ctx)
	}
	queue := backietest.NewRecordingQueue(exampleRegistry(), backietest.RecordingQueueOptions{
		Middleware: []backie.EnqueueMiddleware{tenant},
	})

	ctx := context.WithValue(t.Context(), tenantKey{}, "acme")
	if err := Signup(ctx, queue, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	found := backietest.RequireEnqueued[*WelcomeEmail](t, queue)
	fmt.Println(found[0].Record.Metadata["tenant"])
	// Output:
	// acme
}
