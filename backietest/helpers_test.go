package backietest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/backietest"
)

// --- A testing.TB that records failures --------------------------------

// fakeTB stands for a test's testing.TB and records the failures a helper
// reports instead of failing the test. Fatal and FailNow end the helper's
// goroutine with runtime.Goexit, as testing.T's do, so run helpers through
// capture. What it does not override (Context, Cleanup, Name, Log…) goes
// to the real test.
type fakeTB struct {
	testing.TB

	mu     sync.Mutex
	errors []string
	fatal  bool
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) record(msg string, fatal bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, msg)
	f.fatal = f.fatal || fatal
}

func (f *fakeTB) Error(args ...any)                 { f.record(fmt.Sprint(args...), false) }
func (f *fakeTB) Errorf(format string, args ...any) { f.record(fmt.Sprintf(format, args...), false) }
func (f *fakeTB) Fail()                             { f.record("Fail", false) }
func (f *fakeTB) Fatal(args ...any)                 { f.record(fmt.Sprint(args...), true); runtime.Goexit() }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.record(fmt.Sprintf(format, args...), true)
	runtime.Goexit()
}
func (f *fakeTB) FailNow() { f.record("FailNow", true); runtime.Goexit() }
func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.errors) > 0
}

// captured is what a helper run through capture reported.
type captured struct {
	errors   []string
	fatal    bool // it called Fatal, Fatalf or FailNow
	returned bool // it returned (instead of being stopped by Fatal)
}

// message returns the failures, one per line.
func (c captured) message() string { return strings.Join(c.errors, "\n") }

// capture runs fn with a fakeTB in a goroutine of its own and returns what
// it reported.
func capture(t *testing.T, fn func(tb testing.TB)) captured {
	t.Helper()
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	returned := false
	go func() {
		defer close(done)
		fn(f)
		returned = true
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	return captured{errors: f.errors, fatal: f.fatal, returned: returned}
}

// requireFails checks that fn failed its test with Fatal, stopped there,
// and that the message holds each of want.
func requireFails(t *testing.T, fn func(tb testing.TB), want ...string) captured {
	t.Helper()
	c := capture(t, fn)
	require.True(t, c.fatal, "the helper did not fail the test; it reported %q", c.errors)
	require.False(t, c.returned, "the helper went on after Fatal")
	for _, w := range want {
		require.Contains(t, c.message(), w)
	}
	return c
}

// requirePasses checks that fn reported no failure.
func requirePasses(t *testing.T, fn func(tb testing.TB)) {
	t.Helper()
	c := capture(t, fn)
	require.Empty(t, c.errors, "the helper failed the test")
	require.True(t, c.returned)
}

// --- Tasks ---------------------------------------------------------------

// Email is a task with a payload and nothing else to do.
type Email struct {
	backie.TaskDefaults
	To      string `json:"to"`
	Subject string `json:"subject,omitempty"`
}

func (*Email) Run(context.Context, backie.Queue) error { return nil }

// Welcome is a unique task per address.
type Welcome struct {
	backie.TaskDefaults
	To string `json:"to"`
}

func (*Welcome) Run(context.Context, backie.Queue) error { return nil }

func (w *Welcome) Uniq() (backie.TaskHash, error) { return backie.HashOf(w) }

// Job does what Do says, to show every way an attempt ends.
type Job struct {
	backie.TaskDefaults
	Do        string `json:"do"`
	N         int    `json:"n,omitempty"`
	Retries   int    `json:"retries,omitempty"`
	TimeoutMS int    `json:"timeout_ms,omitempty"`
	BackoffMS int    `json:"backoff_ms,omitempty"`
	// seen, set by the constructor, receives the record each attempt sees.
	seen chan<- *backie.TaskRecord
}

// Things Job does.
const (
	doSucceed   = "succeed"
	doFail      = "fail"
	doPermanent = "permanent"
	doPanic     = "panic"
	doTimeout   = "timeout" // waits for its context
	doSnooze    = "snooze"  // for N seconds
	doFollowUp  = "follow-up"
	doChain     = "chain" // enqueues a Job chain with N-1 while N > 0
)

func (j *Job) Run(ctx context.Context, q backie.Queue) error {
	if rec, ok := backie.RecordFromContext(ctx); ok && j.seen != nil {
		j.seen <- rec
	}
	switch j.Do {
	case doFail:
		return errors.New("boom")
	case doPermanent:
		return backie.Permanent(errors.New("no such user"))
	case doPanic:
		panic("oops")
	case doTimeout:
		<-ctx.Done()
		return ctx.Err()
	case doSnooze:
		return backie.Snooze(time.Duration(j.N) * time.Second)
	case doFollowUp:
		_, err := q.CreateTask(ctx, &Email{To: fmt.Sprintf("user%d@example.com", j.N), Subject: "follow-up"})
		return err
	case doChain:
		if j.N > 0 {
			_, err := q.CreateTask(ctx, &Job{Do: doChain, N: j.N - 1})
			return err
		}
	}
	return nil
}

func (j *Job) MaxRetries() int { return j.Retries }

func (j *Job) Timeout() time.Duration {
	if j.TimeoutMS > 0 {
		return time.Duration(j.TimeoutMS) * time.Millisecond
	}
	return time.Minute
}

func (j *Job) Backoff(int) time.Duration { return time.Duration(j.BackoffMS) * time.Millisecond }

// Unregistered is a task no registry knows.
type Unregistered struct {
	backie.TaskDefaults
	X int `json:"x"`
}

func (*Unregistered) Run(context.Context, backie.Queue) error { return nil }

// newRegistry registers Email, Welcome and Job; Job's attempts send their
// records to seen when it is not nil.
func newRegistry(t testing.TB, seen chan<- *backie.TaskRecord) *backie.Registry {
	t.Helper()
	reg := backie.NewRegistry()
	require.NoError(t, backie.Register[*Email](reg, "email"))
	require.NoError(t, backie.Register[*Welcome](reg, "welcome"))
	require.NoError(t, backie.RegisterFunc(reg, "job", func() *Job { return &Job{seen: seen} }))
	return reg
}

// newPgQueue returns a queue on a fresh schema, with newRegistry's tasks.
func newPgQueue(t *testing.T) *backie.PgQueue {
	t.Helper()
	return backie.NewPgQueue(backietest.Pool(t), newRegistry(t, nil))
}

// --- Examples ----------------------------------------------------------

// exampleT stands for the *testing.T of a test in the examples, which get
// none: it panics on a failure and runs its cleanups in finish.
type exampleT struct {
	testing.TB
	cleanups []func()
}

func newExampleT() *exampleT { return &exampleT{} }

func (*exampleT) Helper()                           {}
func (*exampleT) Name() string                      { return "Example" }
func (*exampleT) Context() context.Context          { return context.Background() }
func (*exampleT) Log(args ...any)                   { fmt.Fprintln(os.Stderr, args...) }
func (*exampleT) Logf(format string, args ...any)   { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (*exampleT) Error(args ...any)                 { panic(fmt.Sprint(args...)) }
func (*exampleT) Errorf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (*exampleT) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (*exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (t *exampleT) Cleanup(f func())                { t.cleanups = append(t.cleanups, f) }

// finish runs the cleanups, last registered first.
func (t *exampleT) finish() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}
