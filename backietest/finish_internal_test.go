package backietest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
)

// TestFinishAttempt: what each outcome does to a task's record, under each
// retention, as a pool's finishing write does to its row.
func TestFinishAttempt(t *testing.T) {
	claimedAt := time.Date(2031, 5, 6, 7, 0, 0, 0, time.UTC)
	now := claimedAt.Add(time.Second + 1500*time.Nanosecond) // kept to the microsecond
	stored := now.Truncate(time.Microsecond)
	oldErr := &backie.ErrorInfo{Message: "earlier", Kind: backie.ErrorKindError}
	newErr := &backie.ErrorInfo{Message: "boom", Kind: backie.ErrorKindError, Retries: 1}
	claimed := func() *backie.TaskRecord {
		return &backie.TaskRecord{Name: "job", ScheduledAt: claimedAt.Add(-time.Minute), RunningAt: &claimedAt,
			Attempt: 2, Retries: 1, MaxRetries: 3, Error: oldErr}
	}
	for _, c := range []struct {
		name      string
		res       backie.AttemptResult
		retention backie.RetentionMode
		// want changes the claimed record into the expected one; nil:
		// removed.
		want func(r *backie.TaskRecord)
	}{
		{"done, removed", backie.AttemptResult{Outcome: backie.OutcomeDone}, backie.RemoveFinished, nil},
		{"done, RemoveAll", backie.AttemptResult{Outcome: backie.OutcomeDone}, backie.RemoveAll, nil},
		{"done, kept", backie.AttemptResult{Outcome: backie.OutcomeDone}, backie.KeepAll, func(r *backie.TaskRecord) {
			r.DoneAt, r.Error = &stored, nil // the last attempt's start stays
		}},
		{"failed, kept", backie.AttemptResult{Outcome: backie.OutcomeFailed, Error: newErr}, backie.RemoveFinished,
			func(r *backie.TaskRecord) { r.DoneAt, r.Error = &stored, newErr }},
		{"failed, KeepAll", backie.AttemptResult{Outcome: backie.OutcomeFailed, Error: newErr}, backie.KeepAll,
			func(r *backie.TaskRecord) { r.DoneAt, r.Error = &stored, newErr }},
		{"failed, RemoveAll", backie.AttemptResult{Outcome: backie.OutcomeFailed, Error: newErr}, backie.RemoveAll, nil},
		{"retry", backie.AttemptResult{Outcome: backie.OutcomeRetry, Error: newErr, Delay: 5*time.Second + 700*time.Microsecond},
			backie.RemoveAll, func(r *backie.TaskRecord) {
				r.RunningAt, r.Error, r.Retries = nil, newErr, 2
				r.ScheduledAt = stored.Add(5 * time.Second) // whole milliseconds
			}},
		{"snoozed", backie.AttemptResult{Outcome: backie.OutcomeSnoozed, Delay: time.Minute}, backie.RemoveFinished,
			func(r *backie.TaskRecord) { r.RunningAt, r.ScheduledAt = nil, stored.Add(time.Minute) }},
		{"snoozed for no time", backie.AttemptResult{Outcome: backie.OutcomeSnoozed}, backie.RemoveFinished,
			func(r *backie.TaskRecord) { r.RunningAt, r.ScheduledAt = nil, stored }},
		{"cancelled", backie.AttemptResult{Outcome: backie.OutcomeCancelled}, backie.RemoveAll,
			func(r *backie.TaskRecord) { r.DoneAt = &stored }},
		{"released", backie.AttemptResult{Outcome: backie.OutcomeReleased}, backie.RemoveAll,
			func(r *backie.TaskRecord) { r.RunningAt = nil }},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := claimed()
			got := finishAttempt(rec, c.res, c.retention, now)
			require.Equal(t, claimed(), rec, "the claimed record is not changed")
			if c.want == nil {
				require.Nil(t, got)
				return
			}
			want := claimed()
			c.want(want)
			require.Equal(t, want, got)
			if got.Error != nil {
				require.NotSame(t, c.res.Error, got.Error, "the record has its own error")
			}
		})
	}
}
