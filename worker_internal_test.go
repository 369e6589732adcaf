package backie

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDecide: what a finished attempt does to its task's row, for every
// outcome, retention and retry count, without a database.
func TestDecide(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	id := uuid.Must(uuid.NewV7())
	rec := func(retries, maxRetries int) *TaskRecord {
		return &TaskRecord{ID: id, Name: "t", Timeout: time.Second, Retries: retries, MaxRetries: maxRetries, Attempt: 3}
	}
	backoff := func(retries int) time.Duration { return time.Duration(retries+1) * time.Minute }
	boom := errors.New("boom")
	ms := func(d time.Duration) *int64 { v := d.Milliseconds(); return &v }

	type want struct {
		verdict    verdict
		remove     bool
		finish     bool
		keepError  bool
		hasError   bool
		addRetries int32
		delay      *int64
		kind       ErrorKind
		permanent  bool
	}
	for _, tc := range []struct {
		name      string
		a         attempt
		retention RetentionMode
		want      want
	}{
		{"success removed", attempt{rec: rec(0, 5)}, RemoveFinished,
			want{verdict: verdictDone, remove: true}},
		{"success kept", attempt{rec: rec(2, 5)}, KeepAll,
			want{verdict: verdictDone, finish: true}},
		{"success removed by RemoveAll", attempt{rec: rec(0, 5)}, RemoveAll,
			want{verdict: verdictDone, remove: true}},
		{"error with retries left", attempt{rec: rec(1, 5), err: boom}, RemoveFinished,
			want{verdict: verdictRetry, hasError: true, addRetries: 1, delay: ms(2 * time.Minute), kind: ErrorKindError}},
		{"error out of retries, kept", attempt{rec: rec(5, 5), err: boom}, RemoveFinished,
			want{verdict: verdictFailed, finish: true, hasError: true, kind: ErrorKindError}},
		{"error out of retries, RemoveAll", attempt{rec: rec(5, 5), err: boom}, RemoveAll,
			want{verdict: verdictFailed, remove: true, hasError: true, kind: ErrorKindError}},
		{"never retried", attempt{rec: rec(0, 0), err: boom}, KeepAll,
			want{verdict: verdictFailed, finish: true, hasError: true, kind: ErrorKindError}},
		{"panic", attempt{rec: rec(0, 5), err: fmt.Errorf("%w: x", ErrTaskPanicked), stack: "stack"}, RemoveFinished,
			want{verdict: verdictRetry, hasError: true, addRetries: 1, delay: ms(time.Minute), kind: ErrorKindPanic}},
		{"timeout", attempt{rec: rec(0, 5), err: context.DeadlineExceeded, timedOut: true}, RemoveFinished,
			want{verdict: verdictRetry, hasError: true, addRetries: 1, delay: ms(time.Minute), kind: ErrorKindTimeout}},
		{"timeout, Run returned nil", attempt{rec: rec(0, 5), timedOut: true}, RemoveFinished,
			want{verdict: verdictRetry, hasError: true, addRetries: 1, delay: ms(time.Minute), kind: ErrorKindTimeout}},
		{"timeout beats a snooze", attempt{rec: rec(0, 0), err: Snooze(time.Second), timedOut: true}, KeepAll,
			want{verdict: verdictFailed, finish: true, hasError: true, kind: ErrorKindTimeout}},
		{"timeout during a hard stop", attempt{rec: rec(0, 5), err: context.Canceled, timedOut: true, interrupted: true}, RemoveFinished,
			want{verdict: verdictRetry, hasError: true, addRetries: 1, delay: ms(time.Minute), kind: ErrorKindTimeout}},
		{"hard stop releases", attempt{rec: rec(2, 5), err: context.Canceled, interrupted: true}, RemoveFinished,
			want{verdict: verdictReleased, keepError: true}},
		{"hard stop, out of retries, still released", attempt{rec: rec(5, 5), err: context.Canceled, interrupted: true}, RemoveAll,
			want{verdict: verdictReleased, keepError: true}},
		{"panic during a hard stop is a failure", attempt{rec: rec(0, 5), err: ErrTaskPanicked, stack: "s", interrupted: true}, RemoveFinished,
			want{verdict: verdictRetry, hasError: true, addRetries: 1, delay: ms(time.Minute), kind: ErrorKindPanic}},
		{"success during a hard stop", attempt{rec: rec(0, 5), interrupted: true}, RemoveFinished,
			want{verdict: verdictDone, remove: true}},
		{"permanent", attempt{rec: rec(0, 20), err: Permanent(boom)}, RemoveFinished,
			want{verdict: verdictFailed, finish: true, hasError: true, kind: ErrorKindError, permanent: true}},
		{"permanent, RemoveAll", attempt{rec: rec(0, 20), err: Permanent(boom)}, RemoveAll,
			want{verdict: verdictFailed, remove: true, hasError: true, kind: ErrorKindError, permanent: true}},
		{"decode", attempt{rec: rec(0, 20), err: fmt.Errorf("%w: bad", ErrDecodePayload)}, RemoveFinished,
			want{verdict: verdictFailed, finish: true, hasError: true, kind: ErrorKindDecode, permanent: true}},
		{"name no longer registered", attempt{rec: rec(0, 20), err: fmt.Errorf("%w: x", ErrTaskNotRegistered)}, KeepAll,
			want{verdict: verdictFailed, finish: true, hasError: true, kind: ErrorKindDecode, permanent: true}},
		{"snooze", attempt{rec: rec(5, 5), err: Snooze(90 * time.Second)}, RemoveFinished,
			want{verdict: verdictSnoozed, keepError: true, delay: ms(90 * time.Second)}},
		{"snooze wrapped", attempt{rec: rec(0, 5), err: fmt.Errorf("later: %w", Snooze(0))}, RemoveFinished,
			want{verdict: verdictSnoozed, keepError: true, delay: ms(0)}},
		{"snooze during a hard stop", attempt{rec: rec(0, 5), err: Snooze(time.Second), interrupted: true}, RemoveFinished,
			want{verdict: verdictSnoozed, keepError: true, delay: ms(time.Second)}},
		{"abandoned", attempt{rec: rec(0, 5), err: ErrTaskTimeout, abandoned: true}, RemoveFinished,
			want{verdict: verdictRetry, hasError: true, addRetries: 1, delay: ms(time.Minute), kind: ErrorKindAbandoned}},
		{"abandoned, out of retries", attempt{rec: rec(5, 5), err: ErrTaskTimeout, abandoned: true}, KeepAll,
			want{verdict: verdictFailed, finish: true, hasError: true, kind: ErrorKindAbandoned}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := decide(tc.a, tc.retention, backoff, now)
			c := d.change
			assert.Equal(t, tc.want.verdict, d.verdict, "verdict")
			assert.Equal(t, id, c.id)
			assert.Equal(t, int32(3), c.attempt, "the write is guarded by the attempt")
			assert.Equal(t, tc.want.remove, c.remove, "remove")
			assert.Equal(t, tc.want.finish, c.finish, "finish")
			assert.False(t, c.remove && c.finish, "a row is removed or finished, not both")
			assert.Equal(t, tc.want.keepError, c.keepError, "keepError")
			assert.Equal(t, tc.want.addRetries, c.addRetries, "addRetries")
			assert.Equal(t, tc.want.delay, c.delayMS, "delay")
			if !tc.want.hasError {
				assert.Nil(t, c.errorInfo, "error_info")
				assert.Nil(t, d.info)
				return
			}
			var info ErrorInfo
			require.NoError(t, json.Unmarshal(c.errorInfo, &info))
			assert.Equal(t, tc.want.kind, info.Kind)
			assert.Equal(t, tc.want.permanent, info.Permanent)
			assert.Equal(t, tc.a.rec.Retries, info.Retries)
			assert.Equal(t, now, info.At)
			assert.NotEmpty(t, info.Message)
			assert.Equal(t, tc.a.stack, info.Stack)
		})
	}
}

func TestDecideBackoff(t *testing.T) {
	t.Parallel()
	r := &TaskRecord{Retries: 3, MaxRetries: 5}
	d := decide(attempt{rec: r, err: errors.New("x")}, RemoveFinished, func(int) time.Duration { return -time.Hour }, time.Now())
	assert.Equal(t, int64(0), *d.change.delayMS, "a negative backoff is no wait")

	var got int
	decide(attempt{rec: r, err: errors.New("x")}, RemoveFinished, func(n int) time.Duration { got = n; return 0 }, time.Now())
	assert.Equal(t, 3, got, "Backoff gets the retries made so far")

	called := false
	decide(attempt{rec: r}, RemoveFinished, func(int) time.Duration { called = true; return 0 }, time.Now())
	assert.False(t, called, "Backoff is called only for a retry")

	panicky := backoffOf(panicBackoffTask{})
	assert.Equal(t, ExponentialBackoff(2), panicky(2), "a Backoff that panics gets the default")
	assert.Equal(t, ExponentialBackoff(4), backoffOf(nil)(4), "a task that did not decode gets the default")
}

type panicBackoffTask struct{ TaskDefaults }

func (panicBackoffTask) Run(context.Context, Queue) error { return nil }
func (panicBackoffTask) Backoff(int) time.Duration        { panic("no") }

func TestEncodeErrorInfoNUL(t *testing.T) {
	t.Parallel()
	b := encodeErrorInfo(&ErrorInfo{Message: "a\x00b", Stack: "s\x00"})
	assert.NotContains(t, string(b), `\u0000`, "jsonb refuses \\u0000")
	var info ErrorInfo
	require.NoError(t, json.Unmarshal(b, &info))
	assert.Equal(t, "a\uFFFDb", info.Message)
}

func TestParseTaskNotification(t *testing.T) {
	t.Parallel()
	for payload, want := range map[string]struct {
		typ string
		d   time.Duration
		ok  bool
	}{
		"t0:email":             {"email", 0, true},
		"t1500:a:b":            {"a:b", 1500 * time.Millisecond, true},
		"t12:":                 {"", 12 * time.Millisecond, true},
		"email":                {ok: false},
		"tx:email":             {ok: false},
		"t-1:email":            {ok: false},
		"c0191-uuid":           {ok: false},
		"t99999999999999999:x": {"x", math.MaxInt64 / time.Millisecond * time.Millisecond, true},
	} {
		typ, d, ok := parseTaskNotification(payload)
		assert.Equal(t, want.ok, ok, payload)
		if want.ok {
			assert.Equal(t, want.typ, typ, payload)
			assert.Equal(t, want.d, d, payload)
		}
	}
}

// The claimer's jobs channel never blocks: a claim takes no more tasks than
// there are free slots, and workers give slots back.
func TestSlots(t *testing.T) {
	t.Parallel()
	s := newSlots(2, 1)
	assert.Equal(t, 3, s.available())
	assert.True(t, s.allFree())
	s.take(2)
	assert.Equal(t, 1, s.available())
	assert.False(t, s.allFree())
	s.release()
	select {
	case <-s.freed:
	default:
		t.Fatal("release did not signal")
	}
	s.take(1)
	s.release()
	s.release() // a pending signal is enough
	assert.True(t, s.allFree())
	assert.Len(t, s.freed, 1)
}

// The claim-ahead buffer holds what the workers finish in aheadRoundTrips
// claim round trips: all of ahead for short tasks, a task or none for long
// ones, none until an attempt and a claim have been timed; the claimer
// claims no more than its workers' free slots and that buffer.
func TestClaimAheadSize(t *testing.T) {
	t.Parallel()
	s := newSlots(100, 50)
	c := newClaimer(nil, discardLogger, s, 50, []string{"x"}, nil, uuid.Nil, 0, time.Second, true)
	assert.Zero(t, c.aheadNow(), "nothing timed yet")
	assert.Equal(t, 100, c.room())
	c.rtt = 2 * time.Millisecond
	assert.Zero(t, c.aheadNow(), "no attempt finished yet")

	s.ran(time.Millisecond) // 100 workers finish 800 tasks in 4 round trips
	assert.Equal(t, 50, c.aheadNow())
	assert.Equal(t, 150, c.room())

	s.runNS.Store(int64(20 * time.Millisecond)) // 40 tasks
	assert.Equal(t, 40, c.aheadNow())
	assert.Equal(t, 140, c.room())
	s.take(130)
	assert.Equal(t, 10, c.room())

	s.runNS.Store(int64(time.Second)) // 0.8 of a task
	assert.Equal(t, 1, c.aheadNow())
	assert.Equal(t, -29, c.room(), "more out than the buffer allows now: no claim")
	s.runNS.Store(int64(10 * time.Second)) // 0.08 of a task
	assert.Zero(t, c.aheadNow())

	// The mean moves by an eighth of each new attempt's difference.
	s.runNS.Store(int64(800 * time.Millisecond))
	s.ran(400 * time.Millisecond)
	assert.Equal(t, int64(750*time.Millisecond), s.runNS.Load())

	off := newClaimer(nil, discardLogger, newSlots(4, 0), 0, []string{"x"}, nil, uuid.Nil, 0, time.Second, true)
	off.rtt = time.Millisecond
	off.slots.ran(time.Microsecond)
	assert.Zero(t, off.aheadNow())
	assert.Equal(t, 4, off.room())
}

// The claimer keeps the times of the tasks it hears of, in order, wakes
// for the earliest, and leaves tasks due after its next poll to the poll.
func TestClaimerDueIn(t *testing.T) {
	t.Parallel()
	c := newClaimer(nil, discardLogger, newSlots(1, 0), 0, []string{"x"}, nil, uuid.Nil, 0, time.Second, true)
	c.dueIn(0)
	assert.Len(t, c.wake, 1, "due now wakes at once")
	<-c.wake
	c.dueIn(2 * time.Second)
	assert.Empty(t, c.dues, "beyond the poll interval: left to the poll")
	c.dueIn(500 * time.Millisecond)
	require.Len(t, c.dues, 1)
	assert.WithinDuration(t, time.Now().Add(500*time.Millisecond), c.dues[0], 100*time.Millisecond)
	assert.Len(t, c.rearm, 1)
	<-c.rearm
	c.dueIn(800 * time.Millisecond)
	assert.Len(t, c.dues, 2, "a later time is kept too")
	assert.Empty(t, c.rearm, "but does not move the wake-up")
	c.dueIn(800 * time.Millisecond)
	assert.Len(t, c.dues, 2, "times within dueMargin are one")
	c.dueIn(100 * time.Millisecond)
	assert.Len(t, c.rearm, 1, "an earlier one moves the wake-up")
	require.Len(t, c.dues, 3)
	assert.True(t, slices.IsSortedFunc(c.dues, time.Time.Compare))

	// A wake-up forgets the times that have passed, not the later ones.
	c.dues = []time.Time{time.Now().Add(-time.Millisecond), time.Now().Add(time.Hour)}
	<-c.rearm
	c.wake <- struct{}{}
	timer := newStoppedTimer()
	_, live := c.idle(t.Context(), timer)
	require.True(t, live)
	assert.Len(t, c.dues, 1)
}

// The completer tells the claimer when each task a write put back to wait
// is due: the earliest alone would leave the others to the poll, if the
// earliest is due at once.
func TestCompleterWakesForWaitingTasks(t *testing.T) {
	t.Parallel()
	var got []time.Duration
	c := &completer{dueIn: func(d time.Duration) { got = append(got, d) }}
	ms := func(v int64) *int64 { return &v }
	c.wakeForWaiting([]rowChange{{remove: true}, {finish: true, delayMS: ms(1)}, {delayMS: ms(300)}, {delayMS: ms(0)}, {keepError: true}})
	c.wakeForWaiting([]rowChange{{remove: true}, {finish: true}})
	assert.Equal(t, []time.Duration{300 * time.Millisecond, 0}, got)
}
