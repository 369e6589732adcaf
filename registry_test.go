package backie_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
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
	require.NoError(t, backie.Register[enqRunValueTask](reg, "value"))
	q := backie.NewPgQueue(pool, reg)
	ctx := t.Context()

	ran := make(chan int, 1)
	enqRunValueCh.Store(t.Name(), ran)
	defer enqRunValueCh.Delete(t.Name())
	rec, err := q.CreateTask(ctx, enqRunValueTask{Test: t.Name(), N: 42})
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

// enqRunValueTask is a value task that reports its N on the channel of its
// test.
type enqRunValueTask struct {
	backie.TaskDefaults
	Test string `json:"test"`
	N    int    `json:"n"`
}

var enqRunValueCh sync.Map // test name -> chan int

func (t enqRunValueTask) Run(context.Context, backie.Queue) error {
	if ch, ok := enqRunValueCh.Load(t.Test); ok {
		ch.(chan int) <- t.N
	}
	return nil
}
