package backie

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type enqIntPtrTask struct {
	TaskDefaults
	A string `json:"a"`
	B []int  `json:"b"`
}

func (*enqIntPtrTask) Run(context.Context, Queue) error { return nil }

type enqIntValueTask struct {
	TaskDefaults
	N int `json:"n"`
}

func (enqIntValueTask) Run(context.Context, Queue) error { return nil }

type enqIntOtherTask struct{ TaskDefaults }

func (*enqIntOtherTask) Run(context.Context, Queue) error { return nil }

// decode turns a stored payload back into a task of the registered Go type.
func TestRegistryDecode(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	require.NoError(t, Register[*enqIntPtrTask](reg, "ptr"))
	require.NoError(t, Register[enqIntValueTask](reg, "val"))

	task, err := reg.decode("ptr", []byte(`{"a":"x","b":[1,2]}`))
	require.NoError(t, err)
	assert.Equal(t, &enqIntPtrTask{A: "x", B: []int{1, 2}}, task)

	task, err = reg.decode("val", []byte(`{"n":7}`))
	require.NoError(t, err)
	assert.Equal(t, enqIntValueTask{N: 7}, task)

	// Two decodes never share a value.
	t1, err := reg.decode("ptr", []byte(`{"a":"1"}`))
	require.NoError(t, err)
	t2, err := reg.decode("ptr", []byte(`{"a":"2"}`))
	require.NoError(t, err)
	assert.NotSame(t, t1, t2)
	assert.Equal(t, "1", t1.(*enqIntPtrTask).A)

	_, err = reg.decode("nope", []byte(`{}`))
	require.ErrorIs(t, err, ErrTaskNotRegistered)
	assert.Contains(t, err.Error(), `"nope"`)

	for _, bad := range []string{`{"a":1}`, `[`, `"str"`} {
		_, err = reg.decode("ptr", []byte(bad))
		require.ErrorIs(t, err, ErrDecodePayload, bad)
		assert.Contains(t, err.Error(), `"ptr"`)
	}
	_, err = reg.decode("val", []byte(`{"n":"x"}`))
	require.ErrorIs(t, err, ErrDecodePayload)
}

func TestRegistryNameOf(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	require.NoError(t, Register[*enqIntPtrTask](reg, "ptr"))
	require.NoError(t, Register[enqIntValueTask](reg, "val"))

	name, err := reg.nameOf(&enqIntPtrTask{})
	require.NoError(t, err)
	assert.Equal(t, "ptr", name)
	name, err = reg.nameOf(enqIntValueTask{})
	require.NoError(t, err)
	assert.Equal(t, "val", name)

	_, err = reg.nameOf(&enqIntOtherTask{})
	require.ErrorIs(t, err, ErrTaskNotRegistered)
	assert.Contains(t, err.Error(), "enqIntOtherTask", "the error names the Go type")
	_, err = reg.nameOf(&enqIntValueTask{})
	require.ErrorIs(t, err, ErrTaskNotRegistered)
}
