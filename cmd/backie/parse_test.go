package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
)

func TestParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0":       0,
		"30s":     30 * time.Second,
		"90m":     90 * time.Minute,
		"1h30m":   90 * time.Minute,
		"7d":      7 * 24 * time.Hour,
		"0d":      0,
		"1d12h":   36 * time.Hour,
		"2d30m":   48*time.Hour + 30*time.Minute,
		" 7d ":    7 * 24 * time.Hour,
		"1.5h":    90 * time.Minute,
		"365d":    365 * 24 * time.Hour,
		"100000d": 100000 * 24 * time.Hour,
	} {
		got, err := parseAge(in)
		if assert.NoError(t, err, "%q", in) {
			assert.Equal(t, want, got, "%q", in)
		}
	}
	for _, in := range []string{"", "d", "7", "7x", "-1h", "1d-1h", "7 days", "1w", "d7", "999999999999d", "1e3h"} {
		_, err := parseAge(in)
		assert.Error(t, err, "%q", in)
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"now":                       now,
		"1h":                        now.Add(-time.Hour),
		"-1h":                       now.Add(-time.Hour),
		"+30m":                      now.Add(30 * time.Minute),
		"7d":                        now.Add(-7 * 24 * time.Hour),
		"2025-01-31T14:00:00Z":      time.Date(2025, 1, 31, 14, 0, 0, 0, time.UTC),
		"2025-01-31T14:00:00.5Z":    time.Date(2025, 1, 31, 14, 0, 0, 5e8, time.UTC),
		"2025-01-31T14:00:00+02:00": time.Date(2025, 1, 31, 12, 0, 0, 0, time.UTC),
		"2025-01-31":                time.Date(2025, 1, 31, 0, 0, 0, 0, time.Local),
	} {
		got, err := parseTime(in, now)
		if assert.NoError(t, err, "%q", in) {
			assert.True(t, want.Equal(got), "%q: %v, want %v", in, got, want)
		}
	}
	for _, in := range []string{"", "+", "yesterday", "2025-13-01", "2025-01-31 14:00", "31/01/2025", "+-1h"} {
		_, err := parseTime(in, now)
		assert.Error(t, err, "%q", in)
	}
}

func TestSplitList(t *testing.T) {
	for in, want := range map[string][]string{
		"":            nil,
		"email":       {"email"},
		"email,sms":   {"email", "sms"},
		"email,,sms,": {"email", "sms"},
		`a\,b,c`:      {"a,b", "c"},
		`a\\,b`:       {`a\`, "b"},
		`a\b`:         {`a\b`},
		`it's "q"`:    {`it's "q"`},
		`trailing\`:   {`trailing\`},
	} {
		assert.Equal(t, want, splitList(in), "%q", in)
	}
}

func TestParseIDs(t *testing.T) {
	ids, err := parseIDs([]string{"0193a5b2-7c1e-7d2f-9a4b-5e6f7a8b9c0d", "0193A5B2-7C1E-7D2F-9A4B-5E6F7A8B9C0E"})
	require.NoError(t, err)
	assert.Equal(t, "0193a5b2-7c1e-7d2f-9a4b-5e6f7a8b9c0e", ids[1].String())
	for _, in := range []string{"", "42", "0193a5b27c1e7d2f9a4b5e6f7a8b9c0d", "{0193a5b2-7c1e-7d2f-9a4b-5e6f7a8b9c0d}",
		"urn:uuid:0193a5b2-7c1e-7d2f-9a4b-5e6f7a8b9c0d", "0193a5b2-7c1e-7d2f-9a4b-5e6f7a8b9c0z", "'; DROP TABLE x; --"} {
		_, err := parseIDs([]string{"0193a5b2-7c1e-7d2f-9a4b-5e6f7a8b9c0d", in})
		assert.Equal(t, exitUsage, exitCode(err), "%q", in)
	}
}

func TestParsePriorityAndState(t *testing.T) {
	for in, want := range map[string]int{"1": 1, "urgent": 1, "2": 2, "default": 2, "low": 3, "4": 4, "lowest": 4} {
		got, err := parsePriority(in)
		assert.NoError(t, err, "%q", in)
		assert.Equal(t, want, got, "%q", in)
	}
	for _, in := range []string{"0", "5", "", "URGENT", "high"} {
		_, err := parsePriority(in)
		assert.Error(t, err, "%q", in)
	}
	for _, in := range []string{"", "all"} {
		st, err := parseState(in, true)
		assert.NoError(t, err)
		assert.Equal(t, backie.TaskState(""), st)
		_, err = parseState(in, false)
		assert.Error(t, err)
	}
	st, err := parseState("failed", false)
	assert.NoError(t, err)
	assert.Equal(t, backie.StateFailed, st)
	_, err = parseState("Failed", true)
	assert.EqualError(t, err, `there is no state "Failed": the states are ready, scheduled, running, done, failed, cancelled`)
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"email":              "email",
		"":                   `""`,
		`it's "quoted"`:      `it's "quoted"`,
		"héllo wörld ✓":      "héllo wörld ✓",
		"new\nline":          `"new\nline"`,
		"tab\there":          `"tab\there"`,
		"\x1b[31mred\x1b[0m": `"\x1b[31mred\x1b[0m"`,
		"bell\x07":           `"bell\a"`,
		"bad\xffutf8":        `"bad\xffutf8"`,
		"rtl\u202eoverride":  `"rtl\u202eoverride"`,
	} {
		assert.Equal(t, want, clean(in), "%q", in)
	}
	assert.Equal(t, "first second", cleanLine("first\n  second\n", 60))
	assert.Equal(t, "abcd…", cleanLine("abcdefgh", 5))
	assert.Equal(t, "", cleanLine(" \n ", 5))
}

func TestShortAndAgo(t *testing.T) {
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		250 * time.Millisecond:                       "250ms",
		12 * time.Second:                             "12s",
		3*time.Minute + 12*time.Second:               "3m12s",
		3 * time.Minute:                              "3m",
		2*time.Hour + 5*time.Minute + 59*time.Second: "2h5m",
		4*24*time.Hour + 3*time.Hour:                 "4d3h",
		400 * 24 * time.Hour:                         "400d",
	} {
		assert.Equal(t, want, short(d), "%v", d)
	}
	assert.Equal(t, "now", ago(now.Add(-500*time.Millisecond), now))
	assert.Equal(t, "3m ago", ago(now.Add(-3*time.Minute), now))
	assert.Equal(t, "in 1h", ago(now.Add(time.Hour), now))
}

func TestMessage(t *testing.T) {
	assert.Equal(t, "backie: plain", message(errors.New("plain")))
	assert.Equal(t, "backie: list tasks: boom", message(errors.New("backie: list tasks: boom")))
	assert.Equal(t, "backie: failed to connect to `user=x`: a: refused; b: refused",
		message(errors.New("failed to connect to `user=x`:\n\ta: refused\n\ta: refused\n\tb: refused")))
	assert.Equal(t, exitFailed, exitCode(errors.New("anything")))
	assert.Equal(t, exitNotFound, exitCode(fmt.Errorf("backie: find task: %w", backie.ErrNotFound)))
	assert.Equal(t, exitSchema, exitCode(fmt.Errorf("backie: stats: %w", backie.ErrMissingTable)))
	assert.Equal(t, exitUsage, exitCode(fmt.Errorf("backie: list tasks: %w", backie.ErrInvalidFilter)))
	assert.Equal(t, exitUsage, exitCode(fmt.Errorf("backie: pause type: %w", backie.ErrInvalidTaskType)))
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"jobs":          "jobs",
		"backie_test_1": "backie_test_1",
		"My Schema":     "'My Schema'",
		`it's`:          `'it'\''s'`,
		"":              "''",
		"$(rm -rf /)":   "'$(rm -rf /)'",
		`a"b`:           `'a"b'`,
	} {
		assert.Equal(t, want, shellQuote(in), "%q", in)
	}
}

func TestSQLVersion(t *testing.T) {
	assert.Equal(t, `SELECT version, dirty FROM "jobs"."backie_schema_migrations" LIMIT 1`,
		sqlVersion("jobs", backie.MigrationsTableDefault))
	assert.Equal(t, `SELECT version, dirty FROM "it's ""odd"""."backie_schema_migrations" LIMIT 1`,
		sqlVersion(`it's "odd"`, backie.MigrationsTableDefault))
}
