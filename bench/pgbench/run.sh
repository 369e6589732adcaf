#!/usr/bin/env bash
# The claim ceiling of PostgreSQL itself, without Go: pgbench clients run
# the library's claim and finishing statements (cycle.sql) in a loop, as
# worker pools of different shapes would, against the library's own schema.
# It prints the tasks claimed and finished per second for each shape, so
# that "4 pools of 25 workers against 1 pool of 100" can be measured with
# no Go code in the way (see docs/benchmarks.md).
#
#   bench/pgbench/run.sh [clients:claim-size ...]   (default: 1:100 4:25 2:50 4:100)
#   make bench-sql
#
# It needs psql and pgbench (Debian: postgresql-client). It makes its own
# schema, backie_pgbench_<pid>, from migrations/, and drops it at the end.
# DATABASE_URL picks the database (default: the local test database);
# SECONDS_PER_RUN (default 5) and TASKS (default 400000) size each run.
set -euo pipefail
cd "$(dirname "$0")"
url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
secs=${SECONDS_PER_RUN:-5}
tasks=${TASKS:-400000}
shapes=("$@")
[ ${#shapes[@]} -gt 0 ] || shapes=(1:100 4:25 2:50 4:100)
schema=backie_pgbench_$$
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$url" "$@"; }

psql -c "CREATE SCHEMA $schema"
trap 'psql -c "SET client_min_messages = warning" -c "DROP SCHEMA $schema CASCADE"' EXIT
for f in ../../migrations/*.up.sql; do
	{ echo "SET search_path = $schema;"; cat "$f"; } | psql
done

# The plan settings of planSQL (claimer.go), for the whole session here.
export PGOPTIONS="-c search_path=$schema -c plan_cache_mode=force_generic_plan -c enable_seqscan=off
 -c enable_bitmapscan=off -c enable_sort=off -c enable_hashjoin=off -c enable_mergejoin=off
 -c enable_material=off -c jit=off"

for shape in "${shapes[@]}"; do
	clients=${shape%%:*} n=${shape##*:}
	# A fresh backlog of no-op tasks, due in id order, with time-ordered
	# (UUIDv7-like) ids as the library makes them.
	psql <<SQL
SET search_path = $schema;
TRUNCATE backie_tasks;
INSERT INTO backie_tasks (id, task_name, payload, timeout_msecs, scheduled_at)
SELECT (lpad(to_hex(g), 12, '0') || '70008000' || lpad(to_hex(g), 12, '0'))::uuid,
       'noop', '{"seq": 1}', 120000, now() - interval '1 hour' + g * interval '1 microsecond'
FROM generate_series(1, $tasks) AS g;
VACUUM ANALYZE backie_tasks;
SQL
	# Without it, the WAL of the previous shape is checkpointed during this
	# one. It needs a superuser or pg_checkpoint; the figures are only noisier
	# without it.
	psql -c CHECKPOINT 2>/dev/null || echo "(CHECKPOINT not allowed: figures are noisier)" >&2
	out=$(pgbench -n -M prepared -c "$clients" -j "$clients" -T "$secs" -D n="$n" -f cycle.sql "$url" 2>&1) ||
		{ echo "$out" >&2; exit 1; }
	tps=$(awk '/^tps = / {print $3}' <<<"$out")
	left=$(psql -At -c "SELECT count(*) FROM $schema.backie_tasks")
	awk -v c="$clients" -v n="$n" -v tps="$tps" -v left="$left" 'BEGIN {
		printf "%d clients x claims of %3d: %7.0f tasks/s (%s cycles/s; %s tasks left)\n", c, n, tps * n, tps, left }'
done
