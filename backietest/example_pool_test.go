package backietest_test

import (
	"fmt"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backietest"
)

// A pool on a schema of its own, migrated, dropped when the test ends:
// tests that use one can run in parallel. The database is the one
// BACKIE_TEST_DATABASE_URL names, or a container testcontainers starts.
func ExamplePool() {
	t := newExampleT() // in a test, the test's *testing.T
	defer t.finish()

	db := backietest.Pool(t)
	queue := backie.NewPgQueue(db, exampleRegistry())
	if _, err := queue.CreateTask(t.Context(), &Reminder{To: "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(t.Context(), `SELECT count(*) FROM backie_tasks`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	fmt.Println(n, "task in this test's schema")
	// Output:
	// 1 task in this test's schema
}
