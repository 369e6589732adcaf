package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
	"github.com/backie-go/backie/internal/dbtest"
)

func TestMigrateUpVersionDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	latest, err := latestVersion()
	require.NoError(t, err)
	require.GreaterOrEqual(t, latest, uint(5))

	// A schema that exists, without tables: version 0, and other commands
	// say what to run.
	var v schemaVersion
	e.runJSON(&v, "migrate", "version")
	assert.Equal(t, schemaVersion{Schema: e.schema, Version: 0, Latest: latest}, v)
	r := e.run("migrate", "version")
	assert.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stdout, "not migrated")
	r = e.run("stats")
	assert.Equal(t, exitSchema, r.code, "%s", r)
	assert.Contains(t, r.stderr, "Backie's tables are not in schema \""+e.schema+"\"")
	assert.Contains(t, r.stderr, "run `backie --schema "+e.schema+" migrate up`")

	r = e.run("migrate", "up")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Equal(t, fmt.Sprintf("Schema %q migrated from version 0 to %d, the latest.\n", e.schema, latest), r.stdout)
	assert.True(t, e.tableExists("backie_tasks"))
	r = e.run("migrate", "up")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stdout, fmt.Sprintf("is up to date: version %d", latest))
	var up struct{ Schema, From, To, Latest any }
	e.runJSON(&up, "migrate", "up")
	l := float64(latest)
	assert.Equal(t, []any{e.schema, l, l, l}, []any{up.Schema, up.From, up.To, up.Latest})
	e.runJSON(&v, "migrate", "version")
	assert.Equal(t, schemaVersion{Schema: e.schema, Version: latest, Latest: latest}, v)
	r = e.run("migrate", "version")
	assert.Equal(t, fmt.Sprintf("Schema %q: version %d, the latest.\n", e.schema, latest), r.stdout)

	// Down asks first: anything but yes, or no answer, changes nothing.
	e.create(&mailTask{To: "kept@example.com"})
	for _, answer := range []string{"", "no\n", "maybe\n"} {
		r = runCmd(t, answer, nil, "--url", e.url, "--schema", e.schema, "migrate", "down")
		assert.Equal(t, exitFailed, r.code, "%q: %s", answer, r)
		assert.Contains(t, r.stderr, "This drops Backie's tables and every task in them, in schema \""+e.schema+"\"")
		assert.Contains(t, r.stderr, "not confirmed: nothing changed")
		assert.True(t, e.tableExists("backie_tasks"))
	}
	r = runCmd(t, "yes\n", nil, "--url", e.url, "--schema", e.schema, "migrate", "down")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stdout, fmt.Sprintf("migrated down from version %d to 0", latest))
	assert.False(t, e.tableExists("backie_tasks"))
	assert.False(t, e.tableExists("backie_processes"))
	e.runJSON(&v, "migrate", "version")
	assert.Equal(t, uint(0), v.Version)

	// Nothing to revert, then up and down again with --yes and --json.
	r = e.run("migrate", "down", "--yes")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stdout, "nothing to revert")
	require.Equal(t, 0, e.run("migrate", "up").code)
	var down struct{ Schema, From, To any }
	e.runJSON(&down, "migrate", "down", "--yes")
	assert.Equal(t, []any{e.schema, l, 0.0}, []any{down.Schema, down.From, down.To})
	assert.False(t, e.tableExists("backie_tasks"))
}

// A migration of a version that is not the latest: migrate version says
// so, and the commands that need the later columns exit with 4.
func TestMigrateOutOfDate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	ctx := context.Background()
	require.NoError(t, backie.Migrate(ctx, e.pool, backie.MigrateConfig{Version: 3}))
	r := e.run("migrate", "version")
	assert.Equal(t, 0, r.code, "%s", r)
	latest, err := latestVersion()
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("Schema %q: version 3 of %d: run `backie migrate up`.\n", e.schema, latest), r.stdout)
	r = e.run("list")
	assert.Equal(t, exitSchema, r.code, "%s", r)
	assert.Contains(t, r.stderr, "run `backie --schema "+e.schema+" migrate up`")

	// A dirty version is shown, and down refuses it.
	e.exec("UPDATE backie_schema_migrations SET dirty = true")
	var v schemaVersion
	e.runJSON(&v, "migrate", "version")
	assert.True(t, v.Dirty)
	assert.Equal(t, uint(3), v.Version)
	r = e.run("migrate", "down", "--yes")
	assert.Equal(t, exitFailed, r.code, "%s", r)
	assert.Contains(t, r.stderr, "is dirty at version 3")
	assert.True(t, e.tableExists("backie_tasks"))
}

// --schema names a schema that does not exist: migrate up creates it, and
// before that every command says to run it. The name needs quoting.
func TestMigrateCreatesSchema(t *testing.T) {
	t.Parallel()
	schema := dbtest.Schema(t) + `_Odd "name", 'quoted'`
	dropSchemaAtEnd(t, schema)
	url := dbtest.URL(t)
	run := func(args ...string) result {
		return runCmd(t, "", nil, append([]string{"--url", url, "--schema", schema}, args...)...)
	}
	for _, args := range [][]string{{"list"}, {"stats"}, {"migrate", "version"}, {"migrate", "down", "--yes"}, {"paused"}} {
		r := run(args...)
		assert.Equal(t, exitSchema, r.code, "%q: %s", args, r)
		assert.Contains(t, r.stderr, "does not exist: run `backie --schema '"+
			`backie_test_`, "%q", args)
		assert.Contains(t, r.stderr, "migrate up`, which creates it", "%q", args)
	}
	r := run("migrate", "up")
	require.Equal(t, 0, r.code, "%s", r)
	r = run("list")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Equal(t, "No tasks match.\n", r.stdout)
	r = run("migrate", "version")
	assert.Contains(t, r.stdout, ", the latest.")
}
