package main

import (
	"encoding/json"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie/internal/dbtest"
)

// Every exit code, from the command line to the exit status, with its
// message on stderr, and the same as JSON with --json.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	bare := newEnv(t, false) // a schema without Backie's tables
	task := e.create(&mailTask{To: "x@example.com"})
	unknown := uuid.Must(uuid.NewV7()).String()
	db := []string{"--url", e.url, "--schema", e.schema}
	withDB := func(args ...string) []string { return append(append([]string{}, db...), args...) }

	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := ln.Addr().(*net.TCPAddr).AddrPort().String()
	require.NoError(t, ln.Close())

	for _, c := range []struct {
		name   string
		args   []string
		env    []string
		code   int
		stderr string // a part of the message
		stdout string
	}{
		{"ok", withDB("paused"), nil, exitOK, "", "No type is paused."},
		{"DATABASE_URL", []string{"--schema", e.schema, "paused"}, []string{"DATABASE_URL=" + e.url}, exitOK, "", "No type is paused."},
		{"--url over DATABASE_URL", withDB("paused"), []string{"DATABASE_URL=postgres://nobody@127.0.0.1:1/x"}, exitOK, "", "No type is paused."},

		{"some ids failed", withDB("retry", task.ID.String(), unknown), nil, exitFailed, "1 of 2 tasks could not be retried", "not retried: not found"},
		{"timeout", withDB("--timeout", "1ns", "stats"), nil, exitConnect, "within --timeout 1ns", ""},

		{"no command", nil, nil, exitUsage, "no command given", ""},
		{"unknown command", []string{"lsit"}, nil, exitUsage, `unknown command "lsit" (did you mean "list"?)`, ""},
		{"unknown subcommand", []string{"migrate", "sideways"}, nil, exitUsage, `unknown command "sideways" for migrate`, ""},
		{"no subcommand", []string{"migrate"}, nil, exitUsage, "backie: migrate needs a subcommand: down, up, version", ""},
		{"unknown flag", withDB("list", "--colour"), nil, exitUsage, "unknown flag: --colour", ""},
		{"bad flag value", withDB("list", "--limit", "many"), nil, exitUsage, `invalid argument "many" for "--limit"`, ""},
		{"limit out of range", withDB("list", "--limit", "0"), nil, exitUsage, "--limit 0: want 1 to 1000", ""},
		{"bad state", withDB("list", "--state", "stuck"), nil, exitUsage, `there is no state "stuck"`, ""},
		{"bad time", withDB("list", "--from", "yesterday"), nil, exitUsage, `--from: "yesterday" is neither a time`, ""},
		{"bad priority", withDB("list", "--priority", "9"), nil, exitUsage, `priority "9" is not one of`, ""},
		{"bad cursor", withDB("list", "--cursor", "bm90IGEgY3Vyc29y"), nil, exitUsage, "invalid filter: cursor", ""},
		{"missing id", withDB("show"), nil, exitUsage, "backie: show takes one task id, got 0 arguments", ""},
		{"two ids", withDB("show", unknown, unknown), nil, exitUsage, "show takes one task id, got 2 arguments", ""},
		{"malformed id", withDB("show", "42"), nil, exitUsage, `"42" is not a task id`, ""},
		{"malformed id among good ones", withDB("delete", task.ID.String(), "'; DROP TABLE backie_tasks; --"), nil, exitUsage, "is not a task id", ""},
		{"extra argument", withDB("stats", "now"), nil, exitUsage, `backie: stats takes no arguments, got "now"`, ""},
		{"bad duration", withDB("purge", "--state", "done", "--older-than", "7x"), nil, exitUsage, `"7x" is not a duration`, ""},
		{"purge without age", withDB("purge", "--state", "done"), nil, exitUsage, "--older-than is required", ""},
		{"purge of ready tasks", withDB("purge", "--state", "ready", "--older-than", "1d"), nil, exitUsage, "purge takes done, failed or cancelled", ""},
		{"empty type", withDB("pause", ""), nil, exitUsage, `"" is not a task type`, ""},
		{"no database", []string{"stats"}, nil, exitUsage, "no database: pass --url or set DATABASE_URL", ""},

		{"bad URL", []string{"--url", "postgres://u:secret@127.0.0.1:port/db", "stats"}, nil, exitConnect, "bad database URL: cannot parse `postgres://u:xxxxx@127.0.0.1:port/db`", ""},
		{"not a URL", []string{"--url", "mysql://localhost/db", "stats"}, nil, exitConnect, "bad database URL", ""},
		{"unreachable", []string{"--url", "postgres://postgres@" + closedPort + "/test?sslmode=disable", "stats"}, nil, exitConnect, "cannot reach the database at 127.0.0.1:", ""},
		{"unknown database", []string{"--url", otherDB(t, e.url, "backie_no_such_db"), "stats"}, nil, exitConnect, `database "backie_no_such_db" does not exist`, ""},

		{"no tables", []string{"--url", e.url, "--schema", bare.schema, "list"}, nil, exitSchema, "Backie's tables are not in schema", ""},
		{"no schema", []string{"--url", e.url, "--schema", "backie_no_such_schema", "stats"}, nil, exitSchema, `schema "backie_no_such_schema" does not exist`, ""},

		{"unknown id", withDB("show", unknown), nil, exitNotFound, "no task has id " + unknown, ""},
		{"unknown ids", withDB("retry", unknown, uuid.Must(uuid.NewV7()).String()), nil, exitNotFound, "no task has any of the 2 ids", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runCmd(t, "", c.env, c.args...)
			assert.Equal(t, c.code, r.code, "%s", r)
			if c.stderr != "" {
				assert.Contains(t, r.stderr, c.stderr)
				msg := r.stderr
				if c.name == "no command" { // the help comes first
					msg = msg[strings.Index(msg, "\nbackie: ")+1:]
				}
				assert.True(t, strings.HasPrefix(msg, "backie: "), "the message starts with backie: %q", msg)
				assert.NotContains(t, r.stderr, "secret", "the password is not shown")
			} else {
				assert.Empty(t, r.stderr)
			}
			assert.Contains(t, r.stdout, c.stdout)
			if c.code == exitUsage || c.code == exitConnect || c.code == exitSchema {
				assert.Empty(t, r.stdout, "nothing was done")
			}

			// The same with --json: one JSON error on stderr.
			r = runCmd(t, "", c.env, append([]string{"--json"}, c.args...)...)
			assert.Equal(t, c.code, r.code, "--json: %s", r)
			if c.code == exitOK {
				assert.Empty(t, r.stderr)
				assert.True(t, json.Valid([]byte(r.stdout)), "stdout is JSON: %s", r.stdout)
				return
			}
			var doc struct {
				Error    string `json:"error"`
				Kind     string `json:"kind"`
				ExitCode int    `json:"exit_code"`
			}
			if c.name == "no command" {
				// The help precedes it.
				r.stderr = r.stderr[strings.LastIndex(strings.TrimSpace(r.stderr), "\n")+1:]
			}
			dec := json.NewDecoder(strings.NewReader(r.stderr))
			dec.DisallowUnknownFields()
			require.NoError(t, dec.Decode(&doc), "stderr: %s", r.stderr)
			assert.False(t, dec.More(), "one JSON document: %s", r.stderr)
			assert.Equal(t, c.code, doc.ExitCode)
			assert.Equal(t, exitKinds[c.code], doc.Kind)
			assert.Contains(t, doc.Error, c.stderr)
			assert.NotContains(t, doc.Error, "\n")
		})
	}
}

// otherDB returns dbURL with another database name.
func otherDB(t *testing.T, dbURL, db string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Skipf("%s is not a postgres:// URL", dbtest.EnvURL)
	}
	u.Path = "/" + db
	return u.String()
}
