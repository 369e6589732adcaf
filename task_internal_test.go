package backie

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A task's context carries its record, through derived contexts.
func TestRecordFromContextInsideTask(t *testing.T) {
	t.Parallel()
	rec := &TaskRecord{Name: "x", Retries: 2}
	ctx := contextWithRecord(context.Background(), rec)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got, ok := RecordFromContext(ctx)
	require.True(t, ok)
	assert.Same(t, rec, got)

	inner := contextWithRecord(ctx, &TaskRecord{Name: "inner"})
	got, ok = RecordFromContext(inner)
	require.True(t, ok)
	assert.Equal(t, "inner", got.Name, "the innermost record wins")

	_, ok = RecordFromContext(context.WithoutCancel(ctx))
	assert.True(t, ok, "values survive WithoutCancel")
}
