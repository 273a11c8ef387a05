#!/usr/bin/env bash
# Compile the feature registry artifact (`churnfeat compile`: the YAML meta ->
# dbt_project/feature_registry.json + macros/generated/churnfeat_registry.sql), then build
# dbt_project/target/manifest.json with `dbt parse`, from the dbt virtualenv.
# The hourly DAG renders its tasks from this file (cosmos LoadMode.DBT_MANIFEST), so run
# this on every deploy of dbt_project/ (and after editing models locally).
#
#   airflow_dags/bin/build-dbt-manifest.sh
#
# Environment: CHURNFEAT_HOME (repo root; default: two folders up from this script),
# CHURNFEAT_DBT_EXECUTABLE (default <home>/.venv/dbt/bin/dbt), CHURNFEAT_DBT_TARGET
# (default duckdb; use the target the DAGs run with), CHURNFEAT_DBT_PROFILES_DIR (default
# <home>/dbt_project), CHURNFEAT_DBT_MANIFEST (where the DAGs read it; default
# <home>/dbt_project/target/manifest.json).
set -euo pipefail

HOME_DIR="${CHURNFEAT_HOME:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
PROJECT="$HOME_DIR/dbt_project"
DBT="${CHURNFEAT_DBT_EXECUTABLE:-$HOME_DIR/.venv/dbt/bin/dbt}"
MANIFEST="${CHURNFEAT_DBT_MANIFEST:-$PROJECT/target/manifest.json}"
PROFILES="${CHURNFEAT_DBT_PROFILES_DIR:-$PROJECT}"
# Relative paths are relative to the repo root, as in the DAGs (churnfeat_airflow/settings.py).
case "$DBT" in /*) ;; *) DBT="$HOME_DIR/$DBT" ;; esac
case "$MANIFEST" in /*) ;; *) MANIFEST="$HOME_DIR/$MANIFEST" ;; esac
case "$PROFILES" in /*) ;; *) PROFILES="$HOME_DIR/$PROFILES" ;; esac

if [ ! -x "$DBT" ]; then
  echo "build-dbt-manifest: $DBT missing; run scripts/stack/install.sh (or make install)" >&2
  exit 1
fi

# The compile step first: a YAML edit must reach the artifact dbt reads (needs node and
# the repo's node_modules; a bad definition stops here, naming file, feature and field).
(cd "$HOME_DIR" && node --import tsx cli/churnfeat.ts compile "$PROJECT")

# Parse into a scratch folder, then move the manifest into place in one rename, so a
# scheduler parsing the DAG meanwhile never reads a half-written file.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$PROJECT"
DBT_SEND_ANONYMOUS_USAGE_STATS=false "$DBT" parse \
  --project-dir "$PROJECT" --profiles-dir "$PROFILES" \
  --target "${CHURNFEAT_DBT_TARGET:-duckdb}" \
  --target-path "$work/target" --log-path "$work/logs" --quiet
mkdir -p "$(dirname "$MANIFEST")"
cp "$work/target/manifest.json" "$MANIFEST.tmp.$$"
mv -f "$MANIFEST.tmp.$$" "$MANIFEST"
echo "build-dbt-manifest: wrote $MANIFEST"
