package backietest_test

import (
	"fmt"
	"time"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backietest"
)

// A task's own test: run it as a worker would, look at how it ended and at
// what it enqueued.
func ExampleRunTask() {
	t := newExampleT() // in a test, the test's *testing.T
	defer t.finish()
	queue := backietest.NewRecordingQueue(exampleRegistry())

	res := backietest.RunTask(t, queue, &WelcomeEmail{To: "ann@example.com"})
	fmt.Println(res.Outcome)
	for _, e := range queue.Enqueued() {
		fmt.Println(e.Record.Name, string(e.Record.Payload), "due in", e.Record.ScheduledAt.Sub(e.Record.CreatedAt))
	}

	res = backietest.RunTask(t, queue, &WelcomeEmail{})
	fmt.Println(res.Outcome, res.Error.Permanent, res.Error.Message)

	// Its last retry, under a pool's Config.TaskTimeout.
	res = backietest.RunTask(t, queue, &WelcomeEmail{To: "bob@example.com"},
		backietest.RunOptions{Retries: backie.MaxRetriesDefault, Timeout: 10 * time.Second})
	fmt.Println(res.Outcome, res.Record.Retries, res.Record.Timeout)
	// Output:
	// done
	// reminder {"to":"ann@example.com"} due in 24h0m0s
	// failed true no address
	// done 20 10s
}

// Run a task a handler enqueued, found in the table.
func ExampleRunRecord() {
	t := newExampleT() // in a test, the test's *testing.T
	defer t.finish()
	queue := backie.NewPgQueue(backietest.Pool(t), exampleRegistry())
	if err := Signup(t.Context(), queue, "ann@example.com"); err != nil {
		t.Fatal(err)
	}

	found := backietest.RequireEnqueued[*WelcomeEmail](t, queue)
	res := backietest.RunRecord(t, queue, found[0].Record)
	fmt.Println(res.Record.Name, res.Record.Attempt, res.Outcome)
	backietest.RequireEnqueued[*Reminder](t, queue, backietest.Want{State: backie.StateScheduled})
	// Output:
	// welcome_email 1 done
}
