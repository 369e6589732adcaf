package backietest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/backie-go/backie"
)

// The service the examples test: Signup enqueues a WelcomeEmail, which
// enqueues a Reminder for the next day.

// WelcomeEmail greets a new user, and schedules a reminder.
type WelcomeEmail struct {
	backie.TaskDefaults
	To string `json:"to"`
}

func (t *WelcomeEmail) Run(ctx context.Context, q backie.Queue) error {
	if t.To == "" {
		return backie.Permanent(errors.New("no address"))
	}
	_, err := q.CreateTask(ctx, &Reminder{To: t.To}, backie.RunAfter(24*time.Hour))
	return err
}

// Reminder asks the user how it is going.
type Reminder struct {
	backie.TaskDefaults
	To string `json:"to"`
}

func (*Reminder) Run(context.Context, backie.Queue) error { return nil }

// exampleRegistry registers the examples' tasks.
func exampleRegistry() *backie.Registry {
	reg := backie.NewRegistry()
	if err := backie.Register[*WelcomeEmail](reg, "welcome_email"); err != nil {
		panic(err)
	}
	if err := backie.Register[*Reminder](reg, "reminder"); err != nil {
		panic(err)
	}
	return reg
}

// Signup is the code under test: it checks the address and enqueues a
// welcome email.
func Signup(ctx context.Context, q backie.Queue, email string) error {
	if !strings.Contains(email, "@") {
		return fmt.Errorf("signup: bad address %q", email)
	}
	_, err := q.CreateTask(ctx, &WelcomeEmail{To: email})
	return err
}
