#!/usr/bin/env bash
# Every offline check of the dbt project, on throwaway data (a few minutes):
#   1. fixture lake -> `dbt build` on a new DuckDB file (models, data tests, unit tests)
#   2. marts == an independent Python evaluation of docs/feature-semantics.md + hand values
#   3. the parity job's run-operation over a spine with offset limits
#   4. incremental == full refresh after late files, and after a definition change;
#      4b. several incremental runs of new lake days (duplicates and late events across the
#      run boundaries) == a full refresh, row by row
#   5. a bad feature definition fails the compiler naming file, feature and field; a YAML
#      edit without recompiling fails dbt naming the command to run
#   6. `dbt build` with no lake file at all
# Usage: dbt_project/scripts/check.sh   (needs .venv/dbt; CHURNFEAT_DBT_PYTHON overrides)
set -euo pipefail
project="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo="$(cd "$project/.." && pwd)"
python="${CHURNFEAT_DBT_PYTHON:-$repo/.venv/dbt/bin/python}"
dbt="$(dirname "$python")/dbt"
work="$(mktemp -d -t churnfeat-dbt-check-XXXXXX)"
trap 'rm -rf "$work"' EXIT
export DBT_SEND_ANONYMOUS_USAGE_STATS=false

run_dbt() { "$dbt" "$@" --project-dir "$project" --profiles-dir "$project"; }

echo "== 1. dbt build on the fixture lake"
"$python" "$project/scripts/make_fixture_lake.py" --lake "$work/lake"
CHURNFEAT_DUCKDB_PATH="$work/warehouse.duckdb" run_dbt build --vars "{lake_root: '$work/lake'}" | tail -n 3

echo "== 1b. unit tests also pass when a run sets --vars as_of"
CHURNFEAT_DUCKDB_PATH="$work/warehouse.duckdb" run_dbt test --select "test_type:unit" --vars "{lake_root: '$work/lake', as_of: '2026-01-01T00:00:00Z'}" | tail -n 1

echo "== 2. values against the Python evaluation of the semantics"
"$python" "$project/scripts/check_fixture_values.py" --lake "$work/lake" --warehouse "$work/warehouse.duckdb"

echo "== 3. run-operation churnfeat_point_in_time_to_table (parity job)"
"$python" "$project/scripts/check_point_in_time_operation.py" --lake "$work/lake" --warehouse "$work/warehouse.duckdb"

echo "== 4. incremental == full refresh"
"$python" "$project/scripts/check_incremental.py"

echo "== 4b. incremental runs of new lake days == full refresh"
"$python" "$project/scripts/check_incremental_batches.py"

echo "== 5. bad definitions are named; a stale registry artifact fails dbt"
"$python" "$project/scripts/check_definition_errors.py"

echo "== 6. dbt build with an empty lake"
CHURNFEAT_DUCKDB_PATH="$work/empty.duckdb" run_dbt build --vars "{lake_root: '$work/no-lake'}" | tail -n 1

echo "dbt checks: OK"
