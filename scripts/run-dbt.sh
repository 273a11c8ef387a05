#!/usr/bin/env bash
# Run dbt from the repo's venv against dbt_project/ (profiles in dbt_project/ too).
#   scripts/run-dbt.sh build | run | test | debug | ...
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ ! -x .venv/dbt/bin/dbt ]; then
  echo "run-dbt: .venv/dbt/bin/dbt missing; run scripts/stack/install.sh (or make install)" >&2
  exit 1
fi
mkdir -p .cache/warehouse
exec .venv/dbt/bin/dbt "$@" --project-dir dbt_project --profiles-dir dbt_project
