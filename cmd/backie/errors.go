package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/backie-go/backie"
)

// Exit codes. Scripts rely on them: they are documented in backie help and
// the README, and each has a test.
const (
	exitOK       = 0 // the command did what it was asked
	exitFailed   = 1 // the operation failed (a task could not be retried, an id of several was unknown…)
	exitUsage    = 2 // a bad command, flag or argument: nothing was done
	exitConnect  = 3 // a bad database URL, or the database cannot be reached
	exitSchema   = 4 // Backie's tables (or their schema) are missing or out of date
	exitNotFound = 5 // no task has the id (every id, for retry, cancel and delete)
)

// exitKinds names the exit codes in --json errors.
var exitKinds = map[int]string{
	exitFailed:   "failed",
	exitUsage:    "usage",
	exitConnect:  "connection",
	exitSchema:   "schema",
	exitNotFound: "not_found",
}

// exitCodesHelp is the table of exit codes in backie help.
const exitCodesHelp = `Exit codes:
  0  success
  1  the operation failed (some ids of retry, cancel or delete failed, a
     task was running, --timeout expired, migrate down was not confirmed)
  2  usage: an unknown command or flag, a malformed id, duration, time or
     state, no --url nor DATABASE_URL; nothing was done
  3  the database URL is bad or the database cannot be reached
  4  Backie's tables are missing or out of date: run backie migrate up
  5  not found: no task has the id (for retry, cancel and delete: none of
     the ids)`

// cliError is an error whose exit code is known.
type cliError struct {
	code int
	msg  string
	err  error // the cause, if any
}

func (e *cliError) Error() string {
	if e.msg == "" && e.err != nil {
		return e.err.Error()
	}
	return e.msg
}

func (e *cliError) Unwrap() error { return e.err }

// usageErrorf is a usage error (exit 2).
func usageErrorf(format string, args ...any) error {
	return &cliError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

// failedf is an operation that failed (exit 1) with its own message.
func failedf(format string, args ...any) error {
	return &cliError{code: exitFailed, msg: fmt.Sprintf(format, args...)}
}

// connectError is a bad URL or an unreachable database (exit 3).
func connectError(err error, format string, args ...any) error {
	return &cliError{code: exitConnect, msg: fmt.Sprintf(format, args...), err: err}
}

// exitCode says which exit code err means.
func exitCode(err error) int {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce.code
	}
	var connErr *pgconn.ConnectError
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &connErr):
		return exitConnect
	case errors.Is(err, backie.ErrMissingTable), errors.Is(err, backie.ErrMissingSchema):
		return exitSchema
	case errors.As(err, &pgErr) && (pgErr.Code == pgerrcode.UndefinedColumn || pgErr.Code == pgerrcode.UndefinedFunction ||
		pgErr.Code == pgerrcode.UndefinedTable):
		// The tables are there but older than this command: a column or a
		// function of a later migration is missing.
		return exitSchema
	case errors.Is(err, backie.ErrNotFound):
		return exitNotFound
	case errors.Is(err, backie.ErrInvalidFilter), errors.Is(err, backie.ErrInvalidTaskName),
		errors.Is(err, backie.ErrInvalidPriority):
		return exitUsage
	}
	return exitFailed
}

// message is err's text for stderr: one line that starts with "backie: "
// once (the library's errors already do).
func message(err error) string {
	msg := oneLine(err.Error())
	if !strings.HasPrefix(msg, "backie: ") {
		msg = "backie: " + msg
	}
	return msg
}

// isNoRows reports whether err says a query returned no row.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// oneLine joins the lines of a message (pgx lists each connection attempt
// on a line of its own), dropping repeated lines.
func oneLine(s string) string {
	var b strings.Builder
	prev := ""
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.Contains(b.String(), l) {
			continue
		}
		if b.Len() > 0 {
			if strings.HasSuffix(prev, ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(l)
		prev = l
	}
	return b.String()
}
