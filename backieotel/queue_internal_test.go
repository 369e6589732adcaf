package backieotel

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
)

// fakeStats counts its reads and returns its stats or error.
type fakeStats struct {
	mu    sync.Mutex
	reads int
	stats *backie.Stats
	err   error
}

func (f *fakeStats) Stats(ctx context.Context) (*backie.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if _, ok := ctx.Deadline(); !ok {
		return nil, errors.New("a read has no deadline")
	}
	return f.stats, f.err
}

// TestQueueObserverReadsOncePerMaxAge: collections within
// QueueStatsMaxAge share one read, errors included; the next read comes
// after it.
func TestQueueObserverReadsOncePerMaxAge(t *testing.T) {
	t.Parallel()
	in, err := New(Config{QueueStatsMaxAge: 5 * time.Second})
	require.NoError(t, err)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fake := &fakeStats{stats: &backie.Stats{}}
	o := &queueObserver{in: in, q: fake, now: func() time.Time { return now }}
	ctx := context.Background()

	for range 3 {
		st, err := o.read(ctx)
		require.NoError(t, err)
		require.Same(t, fake.stats, st)
	}
	require.Equal(t, 1, fake.reads)
	now = now.Add(4 * time.Second)
	_, _ = o.read(ctx)
	require.Equal(t, 1, fake.reads, "still fresh")
	now = now.Add(time.Second)
	_, _ = o.read(ctx)
	require.Equal(t, 2, fake.reads, "5s old: read again")

	fake.err = errors.New("database down")
	now = now.Add(5 * time.Second)
	_, err = o.read(ctx)
	require.ErrorContains(t, err, "database down")
	_, err = o.read(ctx)
	require.ErrorContains(t, err, "database down")
	require.Equal(t, 3, fake.reads, "a failed read is not tried again at once")
}
