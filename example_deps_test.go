package backie_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

// Greeter is a dependency: a client, a database handle, a logger.
type Greeter struct{ Prefix string }

// Welcome needs a Greeter, which is not part of its payload.
type Welcome struct {
	backie.TaskDefaults
	greeter *Greeter
	Name    string `json:"name"`
}

var welcomes = make(chan string, 1)

func (w *Welcome) Run(ctx context.Context, q backie.Queue) error {
	if w.Name == "" {
		return backie.Permanent(errors.New("no name")) // retrying would not help
	}
	welcomes <- w.greeter.Prefix + w.Name
	return nil
}

// A task with dependencies is registered with a constructor: each attempt
// gets the constructor's value, filled with the stored JSON.
func ExampleRegisterFunc() {
	db, cleanup := dbtest.ExamplePool()
	defer cleanup()
	greeter := &Greeter{Prefix: "Welcome, "}
	reg := backie.NewRegistry()
	if err := backie.RegisterFunc(reg, "welcome", func() *Welcome { return &Welcome{greeter: greeter} }); err != nil {
		panic(err)
	}
	q := backie.NewPgQueue(db, reg)
	rec, err := q.CreateTask(context.Background(), &Welcome{Name: "Ada"})
	if err != nil {
		panic(err)
	}
	fmt.Println("stored:", string(rec.Payload)) // the greeter is not stored
	stop := exampleStart(q, backie.Config{})
	defer stop()
	fmt.Println(<-welcomes)
	// Output:
	// stored: {"name":"Ada"}
	// Welcome, Ada
}

// Middleware wraps every enqueue and every attempt: here the enqueue
// stores a tenant in the task's metadata, and the attempt puts it in the
// task's context.
func ExampleRunMiddleware() {
	db, cleanup := dbtest.ExamplePool()
	defer cleanup()
	type tenantKey struct{}
	reg := backie.NewRegistry()
	if err := backie.RegisterFunc(reg, "welcome", func() *Welcome { return &Welcome{greeter: &Greeter{}} }); err != nil {
		panic(err)
	}
	q := backie.NewPgQueue(db, reg, backie.QueueConfig{Middleware: []backie.EnqueueMiddleware{
		func(ctx context.Context, recs []*backie.TaskRecord, next func(context.Context) error) error {
			for _, r := range recs {
				r.Metadata = map[string]string{"tenant": "acme"}
			}
			return next(ctx)
		},
	}})
	seen := make(chan string, 1)
	stop := exampleStart(q, backie.Config{Middleware: []backie.RunMiddleware{
		func(ctx context.Context, task backie.Task, rec *backie.TaskRecord, next func(context.Context) error) error {
			ctx = context.WithValue(ctx, tenantKey{}, rec.Metadata["tenant"])
			start := time.Now()
			err := next(ctx)
			seen <- fmt.Sprintf("%s for %v: err=%v, took less than a minute: %v",
				rec.Name, ctx.Value(tenantKey{}), err, time.Since(start) < time.Minute)
			return err
		},
	}})
	defer stop()
	if _, err := q.CreateTask(context.Background(), &Welcome{Name: "Grace"}); err != nil {
		panic(err)
	}
	<-welcomes
	fmt.Println(<-seen)
	// Output:
	// welcome for acme: err=<nil>, took less than a minute: true
}
