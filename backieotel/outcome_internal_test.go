package backieotel

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
)

// TestAttemptOutcome: what the middleware says the pool does with an
// attempt, from what it returned and from its context.
func TestAttemptOutcome(t *testing.T) {
	t.Parallel()
	ended := func(cause error) context.Context {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(cause)
		return ctx
	}
	live := context.Background()
	timeout, cancelled, hardStop := ended(backie.ErrTaskTimeout), ended(backie.ErrTaskCancelled), ended(errors.New("stop"))
	boom := errors.New("boom")
	withRetries := &backie.TaskRecord{Retries: 1, MaxRetries: 2}
	lastTry := &backie.TaskRecord{Retries: 2, MaxRetries: 2}
	cases := []struct {
		name     string
		ctx      context.Context
		rec      *backie.TaskRecord
		err      error
		panicked bool
		want     backie.Outcome
	}{
		{"success", live, withRetries, nil, false, backie.OutcomeDone},
		{"error, retries left", live, withRetries, boom, false, backie.OutcomeRetry},
		{"error, none left", live, lastTry, boom, false, backie.OutcomeFailed},
		{"permanent", live, withRetries, fmt.Errorf("wrapped: %w", backie.Permanent(boom)), false, backie.OutcomeFailed},
		{"snooze", live, lastTry, backie.Snooze(time.Second), false, backie.OutcomeSnoozed},
		{"wrapped snooze", live, lastTry, fmt.Errorf("later: %w", backie.Snooze(time.Second)), false, backie.OutcomeSnoozed},
		{"joined snooze", live, lastTry, errors.Join(boom, backie.Snooze(time.Second)), false, backie.OutcomeSnoozed},
		{"panic", live, withRetries, fmt.Errorf("%w: x", backie.ErrTaskPanicked), true, backie.OutcomeRetry},
		{"panic, none left", live, lastTry, fmt.Errorf("%w: x", backie.ErrTaskPanicked), true, backie.OutcomeFailed},
		{"timeout", timeout, withRetries, backie.ErrTaskTimeout, false, backie.OutcomeRetry},
		{"timeout, Run returned nil", timeout, lastTry, nil, false, backie.OutcomeFailed},
		{"snooze after the timeout", timeout, withRetries, backie.Snooze(time.Second), false, backie.OutcomeRetry},
		{"cancelled", cancelled, withRetries, context.Canceled, false, backie.OutcomeCancelled},
		{"cancelled, Run returned nil", cancelled, withRetries, nil, false, backie.OutcomeCancelled},
		{"hard stop", hardStop, withRetries, context.Canceled, false, backie.OutcomeReleased},
		{"hard stop, Run returned nil", hardStop, withRetries, nil, false, backie.OutcomeDone},
		{"hard stop, Run panicked", hardStop, withRetries, boom, true, backie.OutcomeRetry},
		{"hard stop, Run snoozed", hardStop, withRetries, backie.Snooze(0), false, backie.OutcomeSnoozed},
	}
	for _, c := range cases {
		require.Equal(t, c.want, attemptOutcome(c.ctx, c.rec, c.err, c.panicked), c.name)
	}
	require.False(t, isSnooze(nil))
	require.False(t, isSnooze(boom))
}

// TestPickupDelay: claim time minus due time, by the database's clock;
// never negative.
func TestPickupDelay(t *testing.T) {
	t.Parallel()
	due := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	claimed := due.Add(3 * time.Millisecond)
	require.Equal(t, 3*time.Millisecond, pickupDelay(&backie.TaskRecord{ScheduledAt: due, RunningAt: &claimed}, due.Add(time.Hour)))
	require.Equal(t, time.Second, pickupDelay(&backie.TaskRecord{ScheduledAt: due}, due.Add(time.Second)), "no RunningAt: now")
	early := due.Add(-time.Millisecond)
	require.Zero(t, pickupDelay(&backie.TaskRecord{ScheduledAt: due, RunningAt: &early}, due))
}
