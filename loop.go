package backie

import (
	"context"
	"time"
)

// This file holds what every background loop of the engine shares.

// Bounds of errorBackoff.
const (
	errorBackoffFirst = 100 * time.Millisecond
	errorBackoffMax   = 5 * time.Second
)

// errorBackoff is the wait after the n-th consecutive database failure of a
// background loop: 100ms doubling up to 5s.
func errorBackoff(n int) time.Duration {
	d := errorBackoffFirst << min(max(n-1, 0), 6)
	return min(d, errorBackoffMax)
}

// sleep waits d or until ctx ends, reusing t; it reports whether ctx is
// still live.
func sleep(ctx context.Context, t *time.Timer, d time.Duration) bool {
	t.Reset(d)
	select {
	case <-ctx.Done():
		t.Stop()
		return false
	case <-t.C:
		return true
	}
}

// newStoppedTimer returns a timer to reuse with Reset.
func newStoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// signal does a non-blocking send on a channel of capacity 1: a pending
// signal is enough, however many were sent.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// statementTimeout bounds a background statement that runs on a context
// the soft stop does not cancel (a claim, a finishing write).
const statementTimeout = 30 * time.Second
