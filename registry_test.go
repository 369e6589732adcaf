package backie_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

func TestRegistryRegister(t *testing.T) {
	t.Parallel()
	reg := backie.NewRegistry()
	assert.Empty(t, reg.Names())
	assert.NotNil(t, reg.Names())

	require.NoError(t, backie.Register[*enqTask](reg, "b_task"))

	err := backie.Register[*enqMailTask](reg, "b_task")
	require.ErrorIs(t, err, backie.ErrTaskAlreadyRegistered, "a name is registered once")
	assert.Contains(t, err.Error(), "b_task")
	assert.Contains(t, err.Error(), "enqTask", "the error names the type holding the name")

	err = backie.Register[*enqTask](reg, "another_name")
	require.ErrorIs(t, err, backie.ErrTaskAlreadyRegistered, "a Go type is registered once")
	assert.Contains(t, err.Error(), `"b_task"`, "the error names the name holding the type")

	err = backie.Register[*enqMailTask](reg, "")
	require.ErrorIs(t, err, backie.ErrInvalidTaskName)

	long := strings.Repeat("n", 256)
	require.ErrorIs(t, backie.Register[*enqMailTask](reg, long), backie.ErrInvalidTaskName)
	require.NoError(t, backie.Register[*enqMailTask](reg, long[:255]), "255 bytes is the longest name")

	require.ErrorIs(t, backie.Register[backie.Task](reg, "iface"), backie.ErrInvalidTask,
		"an interface type cannot be decoded into")

	require.NoError(t, backie.Register[*enqUniqTask](reg, "a_uniq"))
	require.NoError(t, backie.Register[enqValueTask](reg, "c_value"))
	require.NoError(t, backie.Register[*enqValueTask](reg, "C_value_ptr"), "a value type and its pointer are distinct types")

	names := reg.Names()
	assert.Equal(t, []string{"C_value_ptr", "a_uniq", "b_task", "c_value", long[:255]}, names, "sorted, failures not added")
	names[0] = "mutated"
	assert.Equal(t, "C_value_ptr", reg.Names()[0], "Names returns a copy")
}

func TestRegistryIsNotGlobal(t *testing.T) {
	t.Parallel()
	a, b := backie.NewRegistry(), backie.NewRegistry()
	require.NoError(t, backie.Register[*enqTask](a, "same"))
	require.NoError(t, backie.Register[*enqTask](b, "same"))
	require.NoError(t, backie.Register[*enqMailTask](b, "other"))
	assert.Equal(t, []string{"same"}, a.Names())
	assert.Equal(t, []string{"other", "same"}, b.Names())
}

func TestRegistryConcurrentRegister(t *testing.T) {
	t.Parallel()
	reg := backie.NewRegistry()
	const n = 32
	var (
		wg   sync.WaitGroup
		errs [n]error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = backie.Register[*enqTask](reg, "contended")
			_ = backie.Register[*enqMailTask](reg, fmt.Sprint("mail_", i))
			_ = reg.Names()
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			require.ErrorIs(t, err, backie.ErrTaskAlreadyRegistered)
		}
	}
	assert.Equal(t, 1, ok, "exactly one registration of a name wins")
	assert.Len(t, reg.Names(), 2, "the name and one mail_N: the type is registered once")
}

func TestRegistryValueTypes(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	reg := backie.NewRegistry()
	require.NoError(t, backie.Register[enqValueTask](reg, "value"))
	require.NoError(t, backie.Register[*enqTask](reg, "pointer"))
	q := backie.NewPgQueue(pool, reg)
	ctx := t.Context()

	rec, err := q.CreateTask(ctx, enqValueTask{N: 3})
	require.NoError(t, err)
	assert.Equal(t, "value", rec.Name)
	assert.JSONEq(t, `{"n":3}`, string(rec.Payload))
	recs, err := q.CreateTasks(ctx, []backie.Task{enqValueTask{N: 4}, &enqTask{N: 5}})
	require.NoError(t, err)
	assert.Equal(t, "value", recs[0].Name)
	assert.Equal(t, "pointer", recs[1].Name)

	_, err = q.CreateTask(ctx, &enqValueTask{N: 6})
	require.ErrorIs(t, err, backie.ErrTaskNotRegistered, "only the value type is registered")
	assert.Equal(t, 3, enqCount(t, pool))
}

// A value task type is decoded into its registered type and run.
func TestRegistryValueTaskRuns(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	reg := backie.NewRegistry()
	q := backie.NewPgQueue(pool, reg)
	ctx := t.Context()

	ran := make(chan int, 1)
	require.NoError(t, backie.RegisterFunc(reg, "value_func", func() enqRunValueTask { return enqRunValueTask{ran: ran} }))
	rec, err := q.CreateTask(ctx, enqRunValueTask{N: 42})
	require.NoError(t, err)

	wp, err := backie.NewWorkerPool(q, backie.Config{Workers: 1, Retention: backie.KeepAll, Logger: backie.DiscardLogger()})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	require.NoError(t, wp.Start(runCtx))
	defer func() { stop(); wp.Wait() }()
	select {
	case got := <-ran:
		assert.Equal(t, 42, got)
	case <-time.After(15 * time.Second):
		t.Fatal("the value task did not run")
	}
	require.Eventually(t, func() bool {
		found, err := q.FindTask(ctx, rec.ID)
		return err == nil && found.State() == backie.StateDone
	}, 15*time.Second, 5*time.Millisecond)
}

// enqRunValueTask is a value task that reports its N on the channel its
// constructor gives it.
type enqRunValueTask struct {
	backie.TaskDefaults
	ran chan int
	N   int `json:"n"`
}

func (t enqRunValueTask) Run(context.Context, backie.Queue) error {
	t.ran <- t.N
	return nil
}

// regMailer is a dependency a task gets from its constructor.
type regMailer struct {
	mu   sync.Mutex
	sent []string
}

// send records a mail to to and returns how many were sent to it.
func (m *regMailer) send(to string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, to)
	n := 0
	for _, s := range m.sent {
		if s == to {
			n++
		}
	}
	return n
}

// regSendEmail needs a mailer, which is not part of its payload.
type regSendEmail struct {
	backie.TaskDefaults
	mailer *regMailer
	calls  int    // how often Run ran on this value
	To     string `json:"to"`
}

func (*regSendEmail) Backoff(int) time.Duration { return 10 * time.Millisecond }

func (t *regSendEmail) Run(context.Context, backie.Queue) error {
	t.calls++
	if t.mailer == nil {
		return backie.Permanent(errors.New("no mailer"))
	}
	if t.calls > 1 {
		return backie.Permanent(errors.New("a task value was reused across attempts"))
	}
	if n := t.mailer.send(t.To); t.To == "flaky@example.com" && n == 1 {
		return errors.New("first send fails")
	}
	return nil
}

// TestRegisterFunc: a task registered with a constructor runs on the
// constructor's value, filled with its payload: its dependencies come from
// the constructor, its fields from the JSON, and every attempt gets a new
// value.
func TestRegisterFunc(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	reg := backie.NewRegistry()
	mailer := &regMailer{}
	var built atomic.Int64
	require.NoError(t, backie.RegisterFunc(reg, "send_email", func() *regSendEmail {
		built.Add(1)
		return &regSendEmail{mailer: mailer}
	}))
	q := backie.NewPgQueue(pool, reg)
	ctx := t.Context()

	rec, err := q.CreateTask(ctx, &regSendEmail{To: "a@example.com"})
	require.NoError(t, err)
	assert.Equal(t, "send_email", rec.Name)
	assert.JSONEq(t, `{"to":"a@example.com"}`, string(rec.Payload), "the mailer is not stored")
	flaky, err := q.CreateTask(ctx, &regSendEmail{To: "flaky@example.com"}, backie.RunAfter(50*time.Millisecond))
	require.NoError(t, err)

	wpStart(t, q, backie.Config{Workers: 1, Retention: backie.KeepAll})
	for _, id := range []backie.TaskID{rec.ID, flaky.ID} {
		require.Eventually(t, func() bool {
			found, err := q.FindTask(ctx, id)
			return err == nil && found.DoneAt != nil
		}, wpWait, 5*time.Millisecond)
		found, err := q.FindTask(ctx, id)
		require.NoError(t, err)
		require.Equal(t, backie.StateDone, found.State(), "error: %+v", found.Error)
	}
	mailer.mu.Lock()
	assert.Equal(t, []string{"a@example.com", "flaky@example.com", "flaky@example.com"}, mailer.sent)
	mailer.mu.Unlock()
	assert.GreaterOrEqual(t, built.Load(), int64(3), "a new value for each attempt")

	require.ErrorIs(t, backie.RegisterFunc[*regSendEmail](backie.NewRegistry(), "x", nil), backie.ErrInvalidConfig)
	require.ErrorIs(t, backie.RegisterFunc(reg, "again", func() *regSendEmail { return nil }), backie.ErrTaskAlreadyRegistered)
}

// A constructor that returns a nil pointer fails its tasks for good, as a
// payload that does not decode.
func TestRegisterFuncNilValue(t *testing.T) {
	t.Parallel()
	db := dbtest.Pool(t)
	reg := backie.NewRegistry()
	require.NoError(t, backie.RegisterFunc(reg, "nil_ctor", func() *regSendEmail { return nil }))
	q := backie.NewPgQueue(db, reg)
	rec, err := q.CreateTask(t.Context(), &regSendEmail{To: "x"})
	require.NoError(t, err)
	wpStart(t, q, backie.Config{Workers: 1})
	require.Eventually(t, func() bool {
		found, err := q.FindTask(t.Context(), rec.ID)
		return err == nil && found.DoneAt != nil
	}, wpWait, 5*time.Millisecond)
	found, err := q.FindTask(t.Context(), rec.ID)
	require.NoError(t, err)
	assert.Equal(t, backie.ErrorKindDecode, found.Error.Kind)
	assert.Contains(t, found.Error.Message, "returned nil")
}

// Task types whose fields JSON does not encode would run with zero values.
type (
	regOnlyUnexported struct {
		backie.TaskDefaults
		to string
	}
	regOnlyDashed struct {
		backie.TaskDefaults
		To string `json:"-"`
	}
	regNoFields       struct{ backie.TaskDefaults }
	regEmptyStruct    struct{}
	regCustomMarshal  struct{ secret string }
	regEmbeddedFields struct {
		backie.TaskDefaults
		regInner // unexported, but its exported fields are promoted
	}
	regInner       struct{ To string }
	regNamedString string
)

func (*regOnlyUnexported) Run(context.Context, backie.Queue) error { return nil }
func (*regOnlyDashed) Run(context.Context, backie.Queue) error     { return nil }
func (*regNoFields) Run(context.Context, backie.Queue) error       { return nil }
func (*regEmptyStruct) Run(context.Context, backie.Queue) error    { return nil }
func (*regEmptyStruct) TaskType() backie.TaskType                  { return "" }
func (*regEmptyStruct) Uniq() (backie.TaskHash, error)             { return "", nil }
func (*regEmptyStruct) MaxRetries() int                            { return 0 }
func (*regEmptyStruct) Backoff(int) time.Duration                  { return 0 }
func (*regEmptyStruct) Timeout() time.Duration                     { return time.Second }
func (*regEmptyStruct) Priority() int                              { return backie.PriorityDefault }
func (*regCustomMarshal) Run(context.Context, backie.Queue) error  { return nil }
func (*regCustomMarshal) TaskType() backie.TaskType                { return "" }
func (*regCustomMarshal) Uniq() (backie.TaskHash, error)           { return "", nil }
func (*regCustomMarshal) MaxRetries() int                          { return 0 }
func (*regCustomMarshal) Backoff(int) time.Duration                { return 0 }
func (*regCustomMarshal) Timeout() time.Duration                   { return time.Second }
func (*regCustomMarshal) Priority() int                            { return backie.PriorityDefault }
func (r *regCustomMarshal) MarshalJSON() ([]byte, error)           { return json.Marshal(r.secret) }
func (*regEmbeddedFields) Run(context.Context, backie.Queue) error { return nil }
func (regNamedString) Run(context.Context, backie.Queue) error     { return nil }
func (regNamedString) TaskType() backie.TaskType                   { return "" }
func (regNamedString) Uniq() (backie.TaskHash, error)              { return "", nil }
func (regNamedString) MaxRetries() int                             { return 0 }
func (regNamedString) Backoff(int) time.Duration                   { return 0 }
func (regNamedString) Timeout() time.Duration                      { return time.Second }
func (regNamedString) Priority() int                               { return backie.PriorityDefault }

func TestRegisterRefusesTypesWithoutPayload(t *testing.T) {
	t.Parallel()
	reg := backie.NewRegistry()
	err := backie.Register[*regOnlyUnexported](reg, "unexported")
	require.ErrorIs(t, err, backie.ErrInvalidTask)
	assert.Contains(t, err.Error(), "(to)", "the error names the fields")
	assert.Contains(t, err.Error(), "RegisterFunc", "the error says what to do")
	require.ErrorIs(t, backie.Register[*regOnlyDashed](reg, "dashed"), backie.ErrInvalidTask)
	assert.Empty(t, reg.Names(), "nothing registered")

	require.NoError(t, backie.Register[*regNoFields](reg, "no_fields"), "a task without payload")
	require.NoError(t, backie.Register[*regEmptyStruct](reg, "empty"), "a task without payload")
	require.NoError(t, backie.Register[*regCustomMarshal](reg, "custom"), "its own MarshalJSON")
	require.NoError(t, backie.Register[*regEmbeddedFields](reg, "embedded"), "promoted fields")
	require.NoError(t, backie.Register[regNamedString](reg, "named_string"), "not a struct")
	// With a constructor, unexported fields are dependencies.
	require.NoError(t, backie.RegisterFunc(reg, "ctor", func() *regOnlyUnexported { return &regOnlyUnexported{to: "x"} }))
}

func TestRegisterNames(t *testing.T) {
	t.Parallel()
	reg := backie.NewRegistry()
	for name, bad := range map[string]string{
		"NUL":           "a\x00b",
		"invalid UTF-8": "a\xffb",
		"256 bytes":     strings.Repeat("é", 128),
		"empty":         "",
	} {
		err := backie.Register[*enqTask](reg, bad)
		require.ErrorIs(t, err, backie.ErrInvalidTaskName, name)
	}
	longest := strings.Repeat("é", 127) + "n" // 255 bytes
	require.NoError(t, backie.Register[*enqTask](reg, longest))
	require.NoError(t, backie.Register[*enqMailTask](reg, `quote'"; DROP TABLE backie_tasks; --`))
}
