package backie_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// ShipOrder is enqueued in the same transaction that stores its order.
type ShipOrder struct {
	backie.TaskDefaults
	OrderID int64 `json:"order_id"`
}

func (t *ShipOrder) Run(ctx context.Context, q backie.Queue) error { return nil }

// CreateTaskTx enqueues a task in the caller's transaction: it commits or
// rolls back with the caller's own writes.
func ExamplePgQueue_CreateTaskTx() {
	db, cleanup := dbtest.ExamplePool()
	defer cleanup()
	ctx := context.Background()

	reg := backie.NewRegistry()
	if err := backie.Register[*ShipOrder](reg, "ship_order"); err != nil {
		panic(err)
	}
	queue := backie.NewPgQueue(db, reg)

	// Rolled back: the task is gone with the transaction.
	tx, err := db.Begin(ctx)
	if err != nil {
		panic(err)
	}
	rec, err := queue.CreateTaskTx(ctx, tx, &ShipOrder{OrderID: 1})
	if err != nil {
		panic(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		panic(err)
	}
	_, err = queue.FindTask(ctx, rec.ID)
	fmt.Println("after rollback, not found:", errors.Is(err, backie.ErrNotFound))

	// Committed: the task is visible to workers once the order is stored.
	tx, err = db.Begin(ctx)
	if err != nil {
		panic(err)
	}
	// ... INSERT INTO orders ... with tx
	rec, err = queue.CreateTaskTx(ctx, tx, &ShipOrder{OrderID: 2})
	if err != nil {
		panic(err)
	}
	if err := tx.Commit(ctx); err != nil {
		panic(err)
	}
	rec, err = queue.FindTask(ctx, rec.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println("after commit:", rec.State(), string(rec.Payload))

	// Output:
	// after rollback, not found: true
	// after commit: ready {"order_id": 2}
}
