package backieui

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backie-go/backie"
)

func TestRelTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 10, 1, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		0:                       "just now",
		-500 * time.Millisecond: "just now",
		-12 * time.Second:       "12 s ago",
		-3 * time.Minute:        "3 min ago",
		-59 * time.Minute:       "59 min ago",
		-5 * time.Hour:          "5 h ago",
		-47 * time.Hour:         "47 h ago",
		-72 * time.Hour:         "3 days ago",
		20 * time.Second:        "in 20 s",
		4 * time.Minute:         "in 4 min",
	} {
		if got := relTime(now, now.Add(d)); got != want {
			t.Errorf("relTime(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                              "0 s",
		850 * time.Millisecond:         "850 ms",
		12 * time.Second:               "12 s",
		3*time.Minute + 20*time.Second: "3 min 20 s",
		2 * time.Minute:                "2 min",
		5*time.Hour + 2*time.Minute:    "5 h 2 min",
		76 * time.Hour:                 "3 days 4 h",
		-(90 * time.Second):            "1 min 30 s",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestNumberAndShortID(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := number(n); got != want {
			t.Errorf("number(%d) = %q, want %q", n, got, want)
		}
	}
	id := uuid.MustParse("0193a5b2-7c1e-7d3f-9a41-3f5c2b8e4c1f")
	if got := shortID(id); got != "0193a5b2…4c1f" {
		t.Errorf("shortID = %q", got)
	}
	if got := shortID((*uuid.UUID)(nil)); got != "" {
		t.Errorf("shortID(nil) = %q", got)
	}
}

func TestPrettyJSON(t *testing.T) {
	t.Parallel()
	got := string(prettyJSON(json.RawMessage(`{"a":[1,-2.5e3,"x\"<y>"],"b":{"c":false,"d":null}}`)))
	want := `{
  <span class="j-key">&#34;a&#34;</span>: [
    <span class="j-num">1</span>,
    <span class="j-num">-2.5e3</span>,
    <span class="j-str">&#34;x\&#34;&lt;y&gt;&#34;</span>
  ],
  <span class="j-key">&#34;b&#34;</span>: {
    <span class="j-key">&#34;c&#34;</span>: <span class="j-lit">false</span>,
    <span class="j-key">&#34;d&#34;</span>: <span class="j-lit">null</span>
  }
}`
	if got != want {
		t.Errorf("prettyJSON:\n%s\nwant:\n%s", got, want)
	}
	if got := string(prettyJSON(json.RawMessage(`not json <b>`))); got != "not json &lt;b&gt;" {
		t.Errorf("invalid JSON: %q", got)
	}
}

func TestThroughputChart(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 10, 1, 12, 30, 40, 0, time.UTC)
	svg := string(throughputChart(now, []backie.Throughput{
		{Minute: now.Truncate(time.Minute), Done: 40, Failed: 3, Retried: 7},
		{Minute: now.Truncate(time.Minute).Add(-10 * time.Minute), Done: 5},
		{Minute: now.Add(-3 * time.Hour), Done: 1000}, // out of the hour: ignored
	}))
	if n := strings.Count(svg, `<g class="bar">`); n != 60 {
		t.Errorf("%d bars, want 60", n)
	}
	for _, want := range []string{
		"<title>12:30 UTC: 40 done, 3 failed, 7 retried</title>",
		"<title>12:20 UTC: 5 done, 0 failed, 0 retried</title>",
		"<title>11:31 UTC: 0 done, 0 failed, 0 retried</title>", // the first minute shown
		`text-anchor="end">50</text>`,                           // the scale's top
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("the chart lacks %q", want)
		}
	}
	if strings.Contains(svg, "1,000") || strings.Contains(svg, "NaN") {
		t.Error("the chart shows a minute outside the hour, or divides by zero")
	}
	if empty := string(throughputChart(now, nil)); strings.Contains(empty, "NaN") || strings.Count(empty, `class="zero"`) != 60 {
		t.Error("an empty hour is not 60 empty bars")
	}
}

func TestNiceCeil(t *testing.T) {
	t.Parallel()
	for v, want := range map[int64]int64{0: 1, 1: 1, 7: 7, 11: 12, 13: 15, 101: 120, 1100: 1200, 1600: 2000, 81000: 100000} {
		if got := niceCeil(v); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", v, got, want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"/":                          true,
		"/tasks?state=failed&type=a": true,
		"/tasks/0193a5b2-7c1e-7d3f-9a41-3f5c2b8e4c1f": true,
		"":                      false,
		"tasks":                 false,
		"//evil.example/x":      false,
		"/\\evil.example":       false,
		"https://evil.example/": false,
		"/../../etc":            false,
		"/x\r\nSet-Cookie: a=b": false,
	} {
		if got := localPath(s); got != want {
			t.Errorf("localPath(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestBase(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{"/": "./", "/tasks": "./", "/processes": "./", "/tasks/x": "../", "/tasks/x/retry": "../../"} {
		if got := base(path); got != want {
			t.Errorf("base(%q) = %q, want %q", path, got, want)
		}
	}
}
