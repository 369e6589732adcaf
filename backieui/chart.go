package backieui

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"

	"github.com/backie-go/backie"
)

// chartMinutes is how many minutes the throughput chart shows.
const chartMinutes = 60

// throughputTotals adds up the minutes of the chart.
type throughputTotals struct{ Done, Failed, Retried int64 }

func sumThroughput(ts []backie.Throughput) throughputTotals {
	var t throughputTotals
	for _, m := range ts {
		t.Done += m.Done
		t.Failed += m.Failed
		t.Retried += m.Retried
	}
	return t
}

// throughputChart draws the attempts finished per minute as stacked bars
// (done, retried, failed) in an inline SVG: drawn by the server, so it
// needs no script. It shows the 60 minutes up to now's, the oldest on the
// left; a minute missing from ts (the backend leaves out minutes without
// any) is an empty bar. Each bar has a tooltip with its minute and counts.
func throughputChart(now time.Time, in []backie.Throughput) template.HTML {
	last := now.Truncate(time.Minute)
	first := last.Add(-(chartMinutes - 1) * time.Minute)
	ts := make([]backie.Throughput, chartMinutes)
	for i := range ts {
		ts[i].Minute = first.Add(time.Duration(i) * time.Minute)
	}
	for _, m := range in {
		i := int(m.Minute.Truncate(time.Minute).Sub(first) / time.Minute)
		if i < 0 || i >= chartMinutes {
			continue
		}
		ts[i].Done += m.Done
		ts[i].Failed += m.Failed
		ts[i].Retried += m.Retried
	}
	const (
		w, h           = 720.0, 150.0
		left, right    = 44.0, 4.0
		top, bottom    = 8.0, 20.0
		plotW, plotH   = w - left - right, h - top - bottom
		slot           = plotW / chartMinutes
		barW           = slot * 0.72
		gridLabelShift = 4.0
	)
	var peak int64
	for _, m := range ts {
		peak = max(peak, m.Done+m.Failed+m.Retried)
	}
	scale := niceCeil(peak)
	y := func(v int64) float64 { return top + plotH - float64(v)/float64(scale)*plotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="Attempts finished per minute over the last hour">`, w, h)
	// Grid: the top, the middle and the base line, with their values.
	for _, v := range []int64{scale, scale / 2, 0} {
		if v == scale/2 && scale < 2 {
			continue
		}
		fmt.Fprintf(&b, `<line class="grid" x1="%g" x2="%g" y1="%.1f" y2="%.1f"/>`, left, w-right, y(v), y(v))
		fmt.Fprintf(&b, `<text class="axis" x="%g" y="%.1f" text-anchor="end">%s</text>`, left-6, y(v)+gridLabelShift, compact(v))
	}
	for i, m := range ts {
		x := left + float64(i)*slot + (slot-barW)/2
		total := m.Done + m.Failed + m.Retried
		b.WriteString(`<g class="bar">`)
		fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(fmt.Sprintf("%s UTC: %s done, %s failed, %s retried",
			m.Minute.UTC().Format("15:04"), number(m.Done), number(m.Failed), number(m.Retried))))
		fmt.Fprintf(&b, `<rect class="hit" x="%.1f" y="%g" width="%.1f" height="%g"/>`, x-(slot-barW)/2, top, slot, plotH)
		base := int64(0)
		for _, part := range []struct {
			class string
			v     int64
		}{{"done", m.Done}, {"retried", m.Retried}, {"failed", m.Failed}} {
			if part.v <= 0 {
				continue
			}
			y0, y1 := y(base), y(base+part.v)
			hgt := max(y0-y1, 1) // a bar of one is still seen
			fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, part.class, x, y0-hgt, barW, hgt)
			base += part.v
		}
		if total == 0 {
			fmt.Fprintf(&b, `<rect class="zero" x="%.1f" y="%.1f" width="%.1f" height="1"/>`, x, y(0)-1, barW)
		}
		b.WriteString(`</g>`)
	}
	for _, l := range []struct {
		minutesAgo int
		anchor     string
	}{{60, "start"}, {45, "middle"}, {30, "middle"}, {15, "middle"}, {0, "end"}} {
		x := left + float64(chartMinutes-l.minutesAgo)*slot
		label := fmt.Sprintf("−%d min", l.minutesAgo)
		if l.minutesAgo == 0 {
			label, x = "now", w-right
		}
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%g" text-anchor="%s">%s</text>`, x, h-5, l.anchor, label)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil is the smallest round number that is at least v (at least 1):
// 1, 2… 10, then 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120…
func niceCeil(v int64) int64 {
	if v <= 10 {
		return max(v, 1)
	}
	for n := int64(1); ; n *= 10 {
		for _, m := range []int64{10, 12, 15, 20, 25, 30, 40, 50, 60, 80} {
			if n*m >= v {
				return n * m
			}
		}
	}
}

// compact renders an axis value: 950, 1.5k, 20k, 3M.
func compact(v int64) string {
	switch {
	case v >= 1_000_000:
		return trimZero(float64(v)/1e6) + "M"
	case v >= 1_000:
		return trimZero(float64(v)/1e3) + "k"
	}
	return fmt.Sprint(v)
}

func trimZero(f float64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0")
}
