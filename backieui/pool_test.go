package backieui

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// The tasks of the tests on a real database.

// sendEmail succeeds.
type sendEmail struct {
	backie.TaskDefaults
	To      string `json:"to"`
	Subject string `json:"subject"`
}

func (*sendEmail) TaskType() backie.TaskType               { return "email" }
func (*sendEmail) Run(context.Context, backie.Queue) error { return nil }

// chargeCard fails for good.
type chargeCard struct {
	backie.TaskDefaults
	Invoice string `json:"invoice"`
	Cents   int    `json:"amount_cents"`
}

func (*chargeCard) TaskType() backie.TaskType { return "billing" }
func (*chargeCard) Run(context.Context, backie.Queue) error {
	return backie.Permanent(errors.New("charge invoice: card_declined: insufficient_funds"))
}

// buildReport runs until it is cancelled.
type buildReport struct {
	backie.TaskDefaults
	Month string `json:"month"`
}

func (*buildReport) TaskType() backie.TaskType { return "reports" }
func (*buildReport) Run(ctx context.Context, _ backie.Queue) error {
	<-ctx.Done()
	return context.Cause(ctx)
}

// startPool returns a queue on a fresh migrated schema and a running worker
// pool that keeps finished tasks, stopped when the test ends.
func startPool(t *testing.T) *backie.PgQueue {
	t.Helper()
	reg := backie.NewRegistry()
	must(t, backie.Register[*sendEmail](reg, "send_email"), "register")
	must(t, backie.Register[*chargeCard](reg, "charge_card"), "register")
	must(t, backie.Register[*buildReport](reg, "build_report"), "register")
	q := backie.NewPgQueue(dbtest.Pool(t), reg)
	pool, err := backie.NewWorkerPool(q, backie.Config{
		Workers:   4,
		Retention: backie.KeepAll,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	must(t, err, "new worker pool")
	ctx, cancel := context.WithCancel(context.Background())
	must(t, pool.Start(ctx), "start the pool")
	t.Cleanup(func() {
		cancel()
		stop, stopCancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer stopCancel()
		_ = pool.Shutdown(stop) // after 5 s, a hard stop cancels what still runs
	})
	return q
}

// countIn counts the tasks in state s, from the table itself.
func countIn(t *testing.T, q *backie.PgQueue, s backie.TaskState) int {
	t.Helper()
	page, err := q.ListTasks(context.Background(), backie.ListFilter{State: s, Limit: backie.ListLimitMax})
	must(t, err, "list tasks")
	return len(page.Tasks)
}

// eventually waits until ok is true, for at most 30 seconds.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		<-tick.C
	}
}
