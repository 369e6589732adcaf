package benchkit

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
)

// SQLStats counts the statements a pgx connection runs: calls, rows and
// time per statement. Install it as ConnConfig.Tracer to see where a
// workload's round trips go without touching the library. It is safe for
// concurrent use.
type SQLStats struct {
	mu    sync.Mutex
	stats map[string]*sqlStat
}

type sqlStat struct {
	calls, rows, errors int64
	total               time.Duration
	batched             bool
}

var (
	_ pgx.QueryTracer = (*SQLStats)(nil)
	_ pgx.BatchTracer = (*SQLStats)(nil)
)

// NewSQLStats returns empty stats.
func NewSQLStats() *SQLStats { return &SQLStats{stats: make(map[string]*sqlStat)} }

type sqlStartKey struct{}

type sqlStart struct {
	at  time.Time
	sql string
}

// TraceQueryStart implements pgx.QueryTracer.
func (s *SQLStats) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, sqlStartKey{}, sqlStart{at: time.Now(), sql: data.SQL})
}

// TraceQueryEnd implements pgx.QueryTracer.
func (s *SQLStats) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	st, ok := ctx.Value(sqlStartKey{}).(sqlStart)
	if !ok {
		return
	}
	s.add(st.sql, time.Since(st.at), data.CommandTag.RowsAffected(), data.Err != nil, false)
}

// TraceBatchStart implements pgx.BatchTracer.
func (s *SQLStats) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return context.WithValue(ctx, sqlStartKey{}, sqlStart{at: time.Now()})
}

// TraceBatchQuery implements pgx.BatchTracer: each statement of a batch
// counts its call and rows; the batch's time goes to the batch's line.
func (s *SQLStats) TraceBatchQuery(_ context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	s.add(data.SQL, 0, data.CommandTag.RowsAffected(), data.Err != nil, true)
}

// TraceBatchEnd implements pgx.BatchTracer.
func (s *SQLStats) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	st, ok := ctx.Value(sqlStartKey{}).(sqlStart)
	if !ok {
		return
	}
	s.add("(batch round trip)", time.Since(st.at), 0, data.Err != nil, false)
}

func (s *SQLStats) add(sql string, d time.Duration, rows int64, failed, batched bool) {
	key := sqlLabel(sql)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats[key]
	if st == nil {
		st = &sqlStat{batched: batched}
		s.stats[key] = st
	}
	st.calls++
	st.rows += rows
	st.total += d
	if failed {
		st.errors++
	}
}

// sqlLabel shortens a statement to its first words.
func sqlLabel(sql string) string {
	const maxLen = 60
	s := strings.Join(strings.Fields(sql), " ")
	if len(s) > maxLen {
		s = s[:maxLen] + "…"
	}
	return s
}

// Reset forgets everything counted so far.
func (s *SQLStats) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.stats)
}

// Write prints the stats, the busiest statements first.
func (s *SQLStats) Write(w io.Writer, title string) error {
	s.mu.Lock()
	keys := make([]string, 0, len(s.stats))
	for k := range s.stats {
		keys = append(keys, k)
	}
	snapshot := make(map[string]sqlStat, len(s.stats))
	for k, v := range s.stats {
		snapshot[k] = *v
	}
	s.mu.Unlock()
	slices.SortFunc(keys, func(a, b string) int {
		if c := snapshot[b].calls - snapshot[a].calls; c != 0 {
			if c > 0 {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	fmt.Fprintf(w, "SQL of %s:\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  calls\trows/call\tmean ms\ttotal s\terrors\tstatement")
	for _, k := range keys {
		st := snapshot[k]
		mean, total := "-", "-"
		if !st.batched {
			mean = fmt.Sprintf("%.3f", ms(st.total)/float64(st.calls))
			total = fmt.Sprintf("%.2f", st.total.Seconds())
		}
		fmt.Fprintf(tw, "  %d\t%.1f\t%s\t%s\t%d\t%s\n", st.calls, float64(st.rows)/float64(st.calls), mean, total, st.errors, k)
	}
	return tw.Flush()
}
