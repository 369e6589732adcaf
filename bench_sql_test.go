package backie_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/backie-go/backie"
)

// TestPgbenchCycleIsTheLibrarys: bench/pgbench/cycle.sql measures
// PostgreSQL's own ceiling with the library's claim and finishing DELETE; it
// must keep running exactly those statements, with literals and pgbench
// variables in place of the parameters.
func TestPgbenchCycleIsTheLibrarys(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("bench/pgbench/cycle.sql")
	require.NoError(t, err)
	cycle := squash(string(b))

	claim := strings.NewReplacer(
		"$1::text[]", "'{noop}'::text[]",
		"$2::text[]", "NULL::text[]",
		"$3", ":n",
		"$4::bigint", "NULL::bigint",
		"$5::uuid", "'00000000-0000-7000-8000-000000000000'::uuid",
		"$6::smallint[]", "'{1,2,3,4}'::smallint[]",
		"$7::timestamptz[]", "'{-infinity,-infinity,-infinity,-infinity}'::timestamptz[]",
		"$8::uuid[]", "'{00000000-0000-0000-0000-000000000000,00000000-0000-0000-0000-000000000000,00000000-0000-0000-0000-000000000000,00000000-0000-0000-0000-000000000000}'::uuid[]",
	).Replace(backie.ClaimSQLForTest)
	require.Contains(t, cycle, squash(claim), "the claim")

	finish := strings.NewReplacer("$1::uuid[]", ":ids::uuid[]", "$2::int[]", ":attempts::int[]").
		Replace(backie.CompleteDeleteSQLForTest)
	require.Contains(t, cycle, squash(finish), "the finishing DELETE")
}

var space = regexp.MustCompile(`\s+`)

// squash makes every run of white space one space.
func squash(s string) string { return space.ReplaceAllString(strings.TrimSpace(s), " ") }
