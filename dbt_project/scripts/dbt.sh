#!/usr/bin/env bash
# Runs the project's dbt from anywhere, e.g.:
#   dbt_project/scripts/dbt.sh build --vars '{lake_root: /abs/path/to/lake}'
# dbt-duckdb does not create the folder of its database file, so this does it first.
# Without CHURNFEAT_DUCKDB_PATH the warehouse is <repo>/.cache/warehouse/churnfeat.duckdb;
# a relative CHURNFEAT_DUCKDB_PATH is relative to the current directory (as for dbt), a
# relative lake_root to dbt_project/.
set -euo pipefail
project="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo="$(cd "$project/.." && pwd)"
dbt="${CHURNFEAT_DBT:-$repo/.venv/dbt/bin/dbt}"
export CHURNFEAT_DUCKDB_PATH="${CHURNFEAT_DUCKDB_PATH:-$repo/.cache/warehouse/churnfeat.duckdb}"
mkdir -p "$(dirname "$CHURNFEAT_DUCKDB_PATH")"
export DBT_SEND_ANONYMOUS_USAGE_STATS="${DBT_SEND_ANONYMOUS_USAGE_STATS:-false}"
exec "$dbt" "$@" --project-dir "$project" --profiles-dir "$project"
