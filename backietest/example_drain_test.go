package backietest_test

import (
	"fmt"
	"time"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backietest"
)

// Run what a handler enqueued, and the follow-ups, in the test; move the
// test's clock to run what is scheduled for later.
func ExampleDrain() {
	t := newExampleT() // in a test, the test's *testing.T
	defer t.finish()
	queue := backie.NewPgQueue(backietest.Pool(t), exampleRegistry())
	if err := Signup(t.Context(), queue, "ann@example.com"); err != nil {
		t.Fatal(err)
	}

	for _, r := range backietest.Drain(t, queue) {
		fmt.Println(r.Record.Name, r.Outcome)
	}
	fmt.Println("tomorrow:")
	tomorrow := time.Now().Add(25 * time.Hour)
	for _, r := range backietest.Drain(t, queue, backietest.DrainOptions{Now: tomorrow}) {
		fmt.Println(r.Record.Name, r.Outcome)
	}
	// Output:
	// welcome_email done
	// tomorrow:
	// reminder done
}

// The same flow without a database: the recording queue's clock says what
// is due.
func ExampleDrain_recordingQueue() {
	t := newExampleT() // in a test, the test's *testing.T
	defer t.finish()
	clock := time.Date(2031, 1, 2, 9, 0, 0, 0, time.UTC) // a fake clock's time
	queue := backietest.NewRecordingQueue(exampleRegistry(), backietest.RecordingQueueOptions{
		Now: func() time.Time { return clock },
	})
	if err := Signup(t.Context(), queue, "ann@example.com"); err != nil {
		t.Fatal(err)
	}

	for _, r := range backietest.Drain(t, queue) {
		fmt.Println(r.Record.Name, r.Outcome)
	}
	backietest.RequireEnqueued[*Reminder](t, queue, backietest.Want{
		State:       backie.StateScheduled,
		ScheduledAt: clock.Add(24 * time.Hour),
	})
	fmt.Println("tomorrow:")
	clock = clock.Add(24 * time.Hour)
	for _, r := range backietest.Drain(t, queue) {
		fmt.Println(r.Record.Name, r.Outcome)
	}
	fmt.Println("tasks left:", len(queue.Tasks()))
	// Output:
	// welcome_email done
	// tomorrow:
	// reminder done
	// tasks left: 0
}
