package backietest

import (
	"time"

	"github.com/backie-go/backie"
)

// finishAttempt returns the record of a task after an attempt of it,
// claimed as rec, ended with res at now, as a pool records it (the
// library's decide and its finishing write): nil when retention removes
// the task. A success clears the error, a failure stores res.Error, a
// retry also counts one retry, and a retry or a snooze makes the task due
// res.Delay after now, in whole milliseconds as the pool writes it.
func finishAttempt(rec *backie.TaskRecord, res backie.AttemptResult, retention backie.RetentionMode, now time.Time) *backie.TaskRecord {
	now = now.Truncate(time.Microsecond) // as stored
	after := copyRecord(rec)
	var errInfo *backie.ErrorInfo
	if res.Error != nil {
		e := *res.Error
		errInfo = &e
	}
	switch res.Outcome {
	case backie.OutcomeDone:
		if retention != backie.KeepAll {
			return nil
		}
		after.DoneAt, after.Error = &now, nil
	case backie.OutcomeFailed:
		if retention == backie.RemoveAll {
			return nil
		}
		after.DoneAt, after.Error = &now, errInfo
	case backie.OutcomeRetry:
		after.RunningAt, after.Error = nil, errInfo
		after.Retries++
		after.ScheduledAt = now.Add(res.Delay.Truncate(time.Millisecond))
	case backie.OutcomeSnoozed:
		after.RunningAt = nil
		after.ScheduledAt = now.Add(res.Delay.Truncate(time.Millisecond))
	case backie.OutcomeCancelled:
		after.DoneAt = &now // its error stays; RunningAt is the last attempt's start
	default: // backie.OutcomeReleased: ready again, its error as it was
		after.RunningAt = nil
	}
	return after
}
