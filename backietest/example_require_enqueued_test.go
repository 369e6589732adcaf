package backietest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backietest"
)

// Assert that the code under test enqueued a task, narrowed by its
// payload, state, priority, schedule and count.
func ExampleRequireEnqueued() {
	t := newExampleT() // in a test, the test's *testing.T
	defer t.finish()
	queue := backie.NewPgQueue(backietest.Pool(t), exampleRegistry())
	if err := Signup(t.Context(), queue, "ann@example.com"); err != nil {
		t.Fatal(err)
	}

	found := backietest.RequireEnqueued[*WelcomeEmail](t, queue, backietest.Want{
		Payload:  map[string]any{"to": "ann@example.com"},
		State:    backie.StateReady,
		Priority: backie.PriorityDefault,
		Count:    1,
	})
	fmt.Println(found[0].Task.To, found[0].Record.State())
	// Output:
	// ann@example.com ready
}

// Assert on the tasks a transaction enqueued, before it commits.
func ExampleRequireEnqueuedTx() {
	t := newExampleT() // in a test, the test's *testing.T
	defer t.finish()
	queue := backie.NewPgQueue(backietest.Pool(t), exampleRegistry())
	ctx := t.Context()
	tx, err := queue.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := queue.CreateTaskTx(ctx, tx, &Reminder{To: "ann@example.com"}, backie.RunAfter(time.Hour)); err != nil {
		t.Fatal(err)
	}

	found := backietest.RequireEnqueuedTx[*Reminder](t, queue, tx, backietest.Want{
		ScheduledAt:     time.Now().Add(time.Hour),
		ScheduledWithin: time.Minute,
	})
	fmt.Println(found[0].Task.To, found[0].Record.State())
	backietest.RequireNotEnqueuedTx[*WelcomeEmail](t, queue, tx)
	backietest.RequireNotEnqueued[*Reminder](t, queue) // not committed: others do not see it
	// Output:
	// ann@example.com scheduled
}

// Assert that the code under test enqueued nothing of a type.
func ExampleRequireNotEnqueued() {
	t := newExampleT() // in a test, the test's *testing.T
	defer t.finish()
	queue := backie.NewPgQueue(backietest.Pool(t), exampleRegistry())

	err := Signup(t.Context(), queue, "not an address")
	fmt.Println(err)
	backietest.RequireNotEnqueued[*WelcomeEmail](t, queue)
	// Output:
	// signup: bad address "not an address"
}
