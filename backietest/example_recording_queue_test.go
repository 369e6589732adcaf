package backietest_test

import (
	"fmt"

	"github.com/backie-go/backie/backietest"
)

// A unit test of code that enqueues, without a database: the recording
// queue records what it enqueued, and refuses what PgQueue refuses.
func ExampleRecordingQueue() {
	t := newExampleT() // in a test, the test's *testing.T
	defer t.finish()

	queue := backietest.NewRecordingQueue(exampleRegistry())
	if err := Signup(t.Context(), queue, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	for _, e := range queue.Enqueued() {
		fmt.Println(e.Record.Name, string(e.Record.Payload))
	}

	_, err := queue.CreateTask(t.Context(), &Unregistered{})
	fmt.Println(err)
	// Output:
	// welcome_email {"to":"ann@example.com"}
	// backie: create task: task type not registered: *backietest_test.Unregistered
}
