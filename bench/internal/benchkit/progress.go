package benchkit

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress writes a line every interval while a run lasts: done/total, the
// rate over the last interval and the average rate. A run shorter than one
// interval prints nothing.
type progress struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

// startProgress starts reporting on w (nil or every <= 0: no report).
// total <= 0 means the total is unknown.
func startProgress(w io.Writer, every time.Duration, label string, total int64, done func() int64) *progress {
	p := &progress{stop: make(chan struct{})}
	if w == nil || every <= 0 {
		return p
	}
	p.wg.Go(func() {
		start := time.Now()
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		last, lastAt := done(), start
		for {
			select {
			case <-p.stop:
				return
			case now := <-ticker.C:
				n := done()
				fmt.Fprintln(w, progressLine(label, n, total, rate(n-last, now.Sub(lastAt)), rate(n, now.Sub(start)), now.Sub(start)))
				last, lastAt = n, now
			}
		}
	})
	return p
}

// Stop ends the report and waits for its goroutine.
func (p *progress) Stop() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.wg.Wait()
}

func progressLine(label string, n, total int64, now, avg float64, elapsed time.Duration) string {
	if total > 0 {
		return fmt.Sprintf("  %-8s %d/%d (%.1f%%)  %.0f tasks/s now, %.0f avg, %s",
			label, n, total, 100*float64(n)/float64(total), now, avg, elapsed.Round(100*time.Millisecond))
	}
	return fmt.Sprintf("  %-8s %d  %.0f tasks/s now, %.0f avg, %s",
		label, n, now, avg, elapsed.Round(100*time.Millisecond))
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
