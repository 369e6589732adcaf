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
