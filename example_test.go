package backie_test

import (
	"context"
	"fmt"
	"time"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// SumNumbers adds numbers in the background. Its exported fields are its
// JSON payload; embedding TaskDefaults supplies every method but Run.
type SumNumbers struct {
	backie.TaskDefaults
	Numbers []int `json:"numbers"`
}

// sumResults carries results out of Run, for the example to print.
var sumResults = make(chan int, 1)

// Run adds the numbers and sends the sum to sumResults.
func (t *SumNumbers) Run(ctx context.Context, q backie.Queue) error {
	sum := 0
	for _, n := range t.Numbers {
		sum += n
	}
	sumResults <- sum
	return nil
}

// This example registers a task type, enqueues a task and runs it on a
// worker pool, then stops the pool.
func Example() {
	// In a program: db, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	// then backie.Migrate(ctx, db, backie.MigrateConfig{}).
	db, cleanup := dbtest.ExamplePool()
	defer cleanup()
	ctx := context.Background()

	reg := backie.NewRegistry()
	if err := backie.Register[*SumNumbers](reg, "sum_numbers"); err != nil {
		panic(err)
	}
	queue := backie.NewPgQueue(db, reg)

	rec, err := queue.CreateTask(ctx, &SumNumbers{Numbers: []int{1, 2, 3, 4}})
	if err != nil {
		panic(err)
	}
	fmt.Println("enqueued:", rec.Name, rec.State())

	pool, err := backie.NewWorkerPool(queue, backie.Config{
		Workers:   2,
		Retention: backie.KeepAll, // keep the finished task to show its state
		Logger:    backie.DiscardLogger(),
	})
	if err != nil {
		panic(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	if err := pool.Start(runCtx); err != nil {
		panic(err)
	}
	fmt.Println("sum:", <-sumResults)

	// The result is recorded right after Run returns.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if rec, err = queue.FindTask(ctx, rec.ID); err != nil || rec.State() == backie.StateDone {
			break
		}
	}
	fmt.Println("finished:", rec.State(), err)

	stop()      // graceful stop: no new claims, running tasks finish
	pool.Wait() // every goroutine of the pool has exited

	// Output:
	// enqueued: sum_numbers ready
	// sum: 10
	// finished: done <nil>
}
