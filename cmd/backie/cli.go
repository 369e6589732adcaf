package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/backie-go/backie"
)

// timeoutDefault bounds a command (for ui: its start) unless --timeout says
// otherwise.
const timeoutDefault = 30 * time.Second

// app is one run of the command: its streams, its global flags and the
// database pool it opens.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	url     string
	schema  string
	json    bool
	timeout time.Duration

	pool *pgxpool.Pool // set by connect
}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		err = a.explain(err)
	}
	if a.pool != nil {
		a.pool.Close()
	}
	if err == nil {
		return exitOK
	}
	return a.fail(cmd, err)
}

// fail reports err on stderr, as JSON with --json, and returns its exit
// code.
func (a *app) fail(cmd *cobra.Command, err error) int {
	code := exitCode(err)
	msg := message(err)
	if a.json {
		enc := json.NewEncoder(a.stderr)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(struct {
			Error    string `json:"error"`
			Kind     string `json:"kind"`
			ExitCode int    `json:"exit_code"`
		}{msg, exitKinds[code], code})
		return code
	}
	fmt.Fprintln(a.stderr, msg)
	if code == exitUsage && cmd != nil {
		fmt.Fprintf(a.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "backie",
		Short: "Inspect and steer the Backie task queue of a PostgreSQL database",
		Long: `backie inspects and steers the Backie task queue of a PostgreSQL database.

The database is --url, or DATABASE_URL when --url is not given, e.g.
postgres://user:password@host:5432/db?sslmode=disable. Backie's tables are
found through the connections' search_path: --schema sets it (add
&search_path=... to the URL for the same effect).

Output is a human-readable table; --json prints one JSON document on
stdout instead, and errors as one JSON object on stderr:
{"error": "...", "kind": "not_found", "exit_code": 5}.

` + exitCodesHelp,
		Example: `  export DATABASE_URL='postgres://postgres@127.0.0.1:5432/app?sslmode=disable'
  backie migrate up
  backie stats
  backie list --state failed --from 1h
  backie show 0193a5b2-7c1e-7d2f-9a4b-5e6f7a8b9c0d
  backie retry $(backie list --state failed --json | jq -r '.tasks[].id')
  backie purge --state done --older-than 7d
  backie ui --addr localhost:8080`,
		Version:       version(),
		Args:          cobra.ArbitraryArgs, // so that an unknown command reaches RunE, which says so
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE:          a.noCommand,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SuggestionsMinimumDistance = 2
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &cliError{code: exitUsage, err: err}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.url, "url", "", "the database URL (default: $DATABASE_URL)")
	pf.StringVar(&a.schema, "schema", "", "the schema of Backie's tables: sets the connections' search_path (default: the URL's)")
	pf.BoolVar(&a.json, "json", false, "print JSON on stdout, and errors as JSON on stderr")
	pf.DurationVar(&a.timeout, "timeout", timeoutDefault, "how long the command may take (ui: its start); 0 for no limit")

	root.AddCommand(
		a.migrateCommand(),
		a.statsCommand(),
		a.listCommand(),
		a.showCommand(),
		a.retryCommand(),
		a.cancelCommand(),
		a.deleteCommand(),
		a.purgeCommand(),
		a.pauseCommand(),
		a.resumeCommand(),
		a.pausedCommand(),
		a.uiCommand(),
	)
	return root
}

// noCommand runs for a command line without a known command: backie alone
// prints the help on stderr, an unknown command is a usage error.
func (a *app) noCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		cmd.SetOut(a.stderr)
		_ = cmd.Help()
		return &cliError{code: exitUsage, msg: "no command given"}
	}
	msg := fmt.Sprintf("unknown command %q", args[0])
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return usageErrorf("%s", msg)
}

// groupCommand is a command that only holds subcommands (migrate): run
// alone or with an unknown subcommand, it is a usage error.
func groupCommand(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var names []string
		for _, c := range cmd.Commands() {
			if c.IsAvailableCommand() {
				names = append(names, c.Name())
			}
		}
		if len(args) == 0 {
			return usageErrorf("%s needs a subcommand: %s", name(cmd), strings.Join(names, ", "))
		}
		return usageErrorf("unknown command %q for %s: the subcommands are %s", args[0], name(cmd), strings.Join(names, ", "))
	}
	return cmd
}

// name is the command's path without "backie ": "show", "migrate down".
func name(cmd *cobra.Command) string {
	if !cmd.HasParent() {
		return cmd.Name()
	}
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// exactArgs, minArgs and noArgs check a command's arguments, as usage
// errors.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s takes %s, got %s", name(cmd), what, plural(int64(len(args)), "argument", "arguments"))
		}
		return nil
	}
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf("%s takes %s", name(cmd), what)
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q", name(cmd), args[0])
	}
	return nil
}

// context is the command's context, bounded by --timeout.
func (a *app) context(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	if a.timeout <= 0 {
		return context.WithCancel(cmd.Context())
	}
	return context.WithTimeout(cmd.Context(), a.timeout)
}

// poolMaxConns is the size of the command's pool: ui serves a few pages at
// once, the other commands run one statement at a time (migrate down holds
// one connection for golang-migrate and runs on another).
const poolMaxConns = 4

// connect opens the pool on --url (or DATABASE_URL) with --schema as its
// search_path, checks that the database answers, and returns a queue on
// it. The registry is empty: the command runs no task, and every call it
// makes (list, stats, control) works without registered names.
func (a *app) connect(ctx context.Context) (*backie.PgQueue, error) {
	return a.connectN(ctx, poolMaxConns)
}

// connectN is connect with a pool of maxConns connections.
func (a *app) connectN(ctx context.Context, maxConns int32) (*backie.PgQueue, error) {
	url := a.url
	if url == "" {
		url = a.getenv("DATABASE_URL")
	}
	if url == "" {
		return nil, usageErrorf("no database: pass --url or set DATABASE_URL (postgres://user:password@host:5432/db?sslmode=disable)")
	}
	if a.schema != "" && strings.IndexByte(a.schema, 0) >= 0 {
		return nil, usageErrorf("--schema %q holds a NUL byte", a.schema)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message shows the URL with its password redacted.
		return nil, connectError(err, "bad database URL: %s", oneLine(err.Error()))
	}
	cfg.MaxConns = maxConns
	if a.schema != "" {
		// Quoted, so that the schema is taken as it is written (case,
		// commas, quotes), as Migrate creates it.
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{a.schema}.Sanitize()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, connectError(err, "bad database URL: %s", oneLine(err.Error()))
	}
	a.pool = pool
	if err := pool.Ping(ctx); err != nil {
		where := fmt.Sprintf("%s:%d", cfg.ConnConfig.Host, cfg.ConnConfig.Port)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, connectError(err, "cannot reach the database at %s within --timeout %v: %s", where, a.timeout, oneLine(err.Error()))
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) { // the server answered, and refused
			return nil, connectError(err, "cannot connect to the database at %s: %s: check the user, password and database of --url (or DATABASE_URL)",
				where, oneLine(err.Error()))
		}
		return nil, connectError(err, "cannot reach the database at %s: %s: check --url (or DATABASE_URL) and that PostgreSQL runs there",
			where, oneLine(err.Error()))
	}
	return backie.NewPgQueue(pool, backie.NewRegistry()), nil
}

// explain rewrites the error of a command whose tables are missing so that
// it says where they were looked for and what to run; other errors are
// left as they are.
func (a *app) explain(err error) error {
	if exitCode(err) != exitSchema || a.pool == nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var (
		schema *string
		path   string
	)
	if a.pool.QueryRow(ctx, sqlCurrentSchema).Scan(&schema, &path) != nil {
		return &cliError{code: exitSchema, msg: message(err) + ": run `backie migrate up`", err: err}
	}
	flags := ""
	if a.schema != "" {
		flags = " --schema " + shellQuote(a.schema)
	}
	if schema == nil {
		if a.schema != "" {
			return &cliError{code: exitSchema, err: err, msg: fmt.Sprintf(
				"schema %q does not exist: run `backie%s migrate up`, which creates it with Backie's tables", a.schema, flags)}
		}
		return &cliError{code: exitSchema, err: err, msg: fmt.Sprintf(
			"no schema of the search_path (%s) exists: create it, or pass --schema NAME to `backie migrate up`, which creates it", path)}
	}
	if errors.Is(err, backie.ErrMissingTable) {
		return &cliError{code: exitSchema, err: err, msg: fmt.Sprintf(
			"Backie's tables are not in schema %q (search_path %s): run `backie%s migrate up`", *schema, path, flags)}
	}
	return &cliError{code: exitSchema, err: err, msg: fmt.Sprintf(
		"%s: the tables in schema %q are older than this command: run `backie%s migrate up`", message(err), *schema, flags)}
}

// emit prints v as JSON with --json, or calls human.
func (a *app) emit(v any, human func(w io.Writer)) error {
	if !a.json {
		human(a.stdout)
		return nil
	}
	enc := json.NewEncoder(a.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// version is the module's version when built by go install …@version.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// stringsFlag is a flag that may repeat and holds comma-separated values.
// A value that holds a comma writes it \, (and a backslash \\).
type stringsFlag struct{ values *[]string }

func (f stringsFlag) String() string { return strings.Join(*f.values, ",") }
func (f stringsFlag) Type() string   { return "strings" }
func (f stringsFlag) Set(s string) error {
	*f.values = append(*f.values, splitList(s)...)
	return nil
}

var _ pflag.Value = stringsFlag{}
