#!/usr/bin/env bash
# Every linter and format check of the repo, one section each; exits 1 if any fails.
#
#   scripts/lint.sh                 check everything
#   scripts/lint.sh --fix           apply the autofixes first (ruff, sqlfluff, ESLint, Prettier), then check
#   scripts/lint.sh [--fix] STEP... only these steps: python sql typecheck eslint prettier deps
#
# Steps (configs at the repo root unless said; docs/development.md explains the rules):
#   python     ruff check + ruff format --check   ruff.toml           (.venv/tools)
#   sql        sqlfluff lint dbt_project/models    dbt_project/.sqlfluff (.venv/dbt, dbt templater, offline)
#   typecheck  tsc --noEmit over every .ts file    tsconfig.typecheck.json
#   eslint     ESLint + typescript-eslint          eslint.config.js
#   prettier   Prettier --check (TS/JS)            .prettierrc.json, .prettierignore
#   deps       dependency-cruiser import rules     .dependency-cruiser.cjs
# Needs `make install` (venvs and node_modules); no service, no network.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ALL_STEPS=(python sql typecheck eslint prettier deps)
FIX=0
STEPS=()
for arg in "$@"; do
  case "$arg" in
    --fix) FIX=1 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    python|sql|typecheck|eslint|prettier|deps) STEPS+=("$arg") ;;
    *) echo "lint.sh: unknown argument '$arg' (steps: ${ALL_STEPS[*]}; --fix; --help)" >&2; exit 2 ;;
  esac
done
[ "${#STEPS[@]}" -gt 0 ] || STEPS=("${ALL_STEPS[@]}")

RUFF=".venv/tools/bin/ruff"
SQLFLUFF=".venv/dbt/bin/sqlfluff"
BIN="node_modules/.bin"

FAILED=()
PASSED=()

need() { # need PATH: fail the step with a hint when a tool is not installed
  if [ ! -x "$1" ]; then
    echo "missing $1: run 'make install'"
    return 1
  fi
}

# run_step NAME DESCRIPTION FUNCTION: prints a section, records pass/fail.
run_step() {
  local name="$1" what="$2" fn="$3" t0 rc
  printf '\n== %s: %s\n' "$name" "$what"
  t0=$SECONDS
  "$fn"
  rc=$?
  if [ "$rc" -eq 0 ]; then
    printf -- '-- %s: ok (%ss)\n' "$name" "$((SECONDS - t0))"
    PASSED+=("$name")
  else
    printf -- '-- %s: FAILED (exit %s, %ss)\n' "$name" "$rc" "$((SECONDS - t0))"
    FAILED+=("$name")
  fi
}

step_python() {
  need "$RUFF" || return 1
  if [ "$FIX" = 1 ]; then
    "$RUFF" check --fix --quiet . || true
    "$RUFF" format --quiet .
  fi
  local rc=0
  "$RUFF" check . || rc=1
  "$RUFF" format --check . || rc=1
  return "$rc"
}

step_sql() {
  need "$SQLFLUFF" || return 1
  # The dbt templater renders the models through the `duckdb` target of profiles.yml: give it a
  # throwaway database file, so lint needs no warehouse (and leaves none behind).
  local work rc=0
  work="$(mktemp -d -t churnfeat-sqlfluff-XXXXXX)"
  (
    cd dbt_project || exit 1
    export CHURNFEAT_DUCKDB_PATH="$work/lint.duckdb" DBT_SEND_ANONYMOUS_USAGE_STATS=false
    if [ "$FIX" = 1 ]; then
      "../$SQLFLUFF" fix --quiet models >/dev/null || true
    fi
    "../$SQLFLUFF" lint models
  ) || rc=1
  rm -rf "$work"
  return "$rc"
}

step_typecheck() {
  need "$BIN/tsc" || return 1
  "$BIN/tsc" -p tsconfig.typecheck.json --noEmit
}

step_eslint() {
  need "$BIN/eslint" || return 1
  if [ "$FIX" = 1 ]; then
    "$BIN/eslint" --fix .
  else
    "$BIN/eslint" .
  fi
}

step_prettier() {
  need "$BIN/prettier" || return 1
  if [ "$FIX" = 1 ]; then
    "$BIN/prettier" --write --log-level warn .
  else
    "$BIN/prettier" --check --log-level warn . && echo "every checked file is formatted"
  fi
}

step_deps() {
  need "$BIN/depcruise" || return 1
  local roots=() dir
  for dir in sidecar parity cli test bench airflow_dags; do
    [ -d "$dir" ] && roots+=("$dir")
  done
  "$BIN/depcruise" --config .dependency-cruiser.cjs --output-type err "${roots[@]}"
}

for step in "${STEPS[@]}"; do
  case "$step" in
    python)    run_step python "ruff check, ruff format --check (airflow_dags, dbt_project/scripts, test)" step_python ;;
    sql)       run_step sql "sqlfluff lint dbt_project/models (dbt templater, DuckDB, offline)" step_sql ;;
    typecheck) run_step typecheck "tsc --noEmit -p tsconfig.typecheck.json (every .ts file)" step_typecheck ;;
    eslint)    run_step eslint "ESLint + typescript-eslint (every .ts file)" step_eslint ;;
    prettier)  run_step prettier "Prettier --check (TypeScript and JavaScript)" step_prettier ;;
    deps)      run_step deps "dependency-cruiser import rules (.dependency-cruiser.cjs)" step_deps ;;
  esac
done

printf '\n== lint: %s passed' "${#PASSED[@]}"
if [ "${#FAILED[@]}" -gt 0 ]; then
  printf ', %s failed: %s\n' "${#FAILED[@]}" "${FAILED[*]}"
  exit 1
fi
printf ', 0 failed\n'
