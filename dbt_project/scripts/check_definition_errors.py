"""Checks the two guards of the feature definitions, on copies of the project:

1. A bad feature definition fails the compile step (`churnfeat compile`, for now
   `churnfeat compile`: the one validator) with a message naming the YAML
   file, the feature and the field. For each case, breaks one field of one definition in
   models/marts/_marts__models.yml and runs the compiler on the copy.
2. A YAML edit without recompiling fails dbt (the on-run-start hook
   churnfeat_check_registry, also run here as `dbt run-operation`) with a message naming
   the command to run; after compiling, the same run passes.

Usage: .venv/dbt/bin/python dbt_project/scripts/check_definition_errors.py
(needs the repository's node_modules: the compiler runs with `node --import tsx`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parent.parent
REPO = PROJECT.parent
DBT = Path(sys.executable).parent / "dbt"
COMPILER = ["node", "--import", "tsx", "cli/churnfeat.ts", "compile"]
YAML_FILE = "models/marts/_marts__models.yml"
UNIT_TEST_FILE = "models/intermediate/_intermediate__models.yml"


def set_path(meta: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        meta = meta.setdefault(key, {})
    if value is None:
        meta.pop(last, None)
    else:
        meta[last] = value


# (feature, field to change, new value (None = remove), field named in the error, words in the error)
CASES = [
    ("errors_last_10m", "aggregation.function", "median", "aggregation.function", "unknown aggregation"),
    ("errors_last_10m", "version", 0, "version", "an integer >= 1"),
    (
        "errors_last_10m",
        "filter.event_types",
        ["playback_error", "playback_error"],
        "filter.event_types",
        "must not repeat",
    ),
    ("errors_last_10m", "window", "90s", "window", "multiple of granularity"),
    ("errors_last_1h", "window", "1 hour", "window", "not a duration"),
    ("errors_last_1h", "granularity", "0m", "granularity", "not a duration"),
    ("watch_time_last_24h", "aggregation.attribute", None, "aggregation.attribute", "required for sum"),
    ("distinct_titles_last_7d", "aggregation.attribute", None, "aggregation.attribute", "required for count_distinct"),
    ("distinct_titles_last_7d", "aggregation.function", "last", None, None),  # valid: last with an attribute
    ("support_tickets_last_30d", "aggregation", {"function": "max"}, "aggregation.attribute", "required for max"),
    (
        "support_tickets_last_30d",
        "aggregation.attribute",
        "ticket_id",
        "aggregation.attribute",
        "count takes no attribute",
    ),
    (
        "payment_failures_last_7d",
        "filter.event_types",
        ["payment_lost"],
        "filter.event_types",
        "not an event type of source billing",
    ),
    (
        "errors_last_10m",
        "filter.where",
        [{"attribute": "error_code", "op": "like", "value": "E%"}],
        "filter.where.0.op",
        "must be one of",
    ),
    (
        "errors_last_10m",
        "filter.where",
        [{"attribute": "error_code", "op": "gt", "value": "E1"}],
        "filter.where.0.value",
        "a number",
    ),
    ("errors_last_10m", "source", "crm", "source", "must be one of"),
    ("errors_last_10m", "windw", "10m", "windw", "unknown field"),
    ("watch_time_last_24h", "aggregation.scale", 9, "aggregation.scale", "0 to 6"),
    ("support_tickets_last_30d", "granularity", "1m", "granularity", "more than 2000 tiles"),
]


def copy_project(work: Path) -> Path:
    copy = work / "project"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return copy


def edit_feature(copy: Path, feature: str, field: str, value) -> None:
    doc = yaml.safe_load((copy / YAML_FILE).read_text())
    model = next(m for m in doc["models"] if m["name"] == "fct_user_features")
    column = next(c for c in model["columns"] if c["name"] == feature)
    set_path(column["config"]["meta"]["feature"], field, value)
    (copy / YAML_FILE).write_text(yaml.safe_dump(doc, sort_keys=False))


def compile_registry(copy: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*COMPILER, str(copy)], cwd=REPO, capture_output=True, text=True)


def run_dbt(copy: Path, work: Path, *args: str) -> subprocess.CompletedProcess:
    """Runs dbt in a copy of the project on a throwaway warehouse with no lake."""
    env = {
        **os.environ,
        "CHURNFEAT_DUCKDB_PATH": str(work / "warehouse.duckdb"),
        "CHURNFEAT_LAKE_ROOT": str(work / "no-lake"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    command = [str(DBT), *args, "--project-dir", str(copy), "--profiles-dir", str(copy)]
    return subprocess.run(command, env=env, capture_output=True, text=True)


def check_registry(copy: Path, work: Path) -> subprocess.CompletedProcess:
    return run_dbt(copy, work, "run-operation", "churnfeat_check_registry")


def definition_errors(work: Path) -> list[str]:
    failures = []
    for feature, field, value, expected_field, expected_words in CASES:
        copy = copy_project(work)
        edit_feature(copy, feature, field, value)
        completed = compile_registry(copy)
        output = completed.stdout + completed.stderr
        line = next((text.strip() for text in output.splitlines() if "invalid feature definition" in text), "")
        if expected_field is None:
            ok = completed.returncode == 0 and not line
            print(f"{'ok  ' if ok else 'FAIL'} {feature}.{field} = {value!r}: accepted")
        else:
            wanted = [YAML_FILE, f'feature "{feature}"', f'field "{expected_field}"', expected_words]
            ok = completed.returncode == 2 and all(part in line for part in wanted)
            print(f"{'ok  ' if ok else 'FAIL'} {feature}.{field} = {value!r}: {line or output[-800:]}")
        if not ok:
            failures.append(f"{feature}.{field}")
    return failures


# (what is edited without recompiling, edit(copy), words the dbt error must contain)
def _edit_text(path: str, old: str, new: str):
    def edit(copy: Path) -> None:
        text = (copy / path).read_text()
        assert old in text, f"{old!r} not in {path}"
        (copy / path).write_text(text.replace(old, new, 1))

    return edit


STALE_CASES = [
    (
        "a feature's window",
        lambda copy: edit_feature(copy, "errors_last_10m", "window", "20m"),
        'feature "errors_last_10m" (models/marts/_marts__models.yml) changed',
    ),
    (
        "the lateness policy",
        _edit_text(YAML_FILE, "allowed_lateness: 24h", "allowed_lateness: 12h"),
        "the feature_policies block changed",
    ),
    (
        "a unit test's feature",
        _edit_text(UNIT_TEST_FILE, "window: 10m, granularity: 1m", "window: 20m, granularity: 1m"),
        'the unit test feature "errors_10m"',
    ),
]


def stale_artifact(work: Path) -> list[str]:
    failures = []
    for what, edit, words in STALE_CASES:
        copy = copy_project(work)
        edit(copy)
        if "unit test" in what:
            # The on-run-start check compares the model YAML; a unit test's block is looked
            # up when the unit test renders its model.
            completed = run_dbt(copy, work, "test", "--select", "test_type:unit")
        else:
            completed = check_registry(copy, work)
        output = completed.stdout + completed.stderr
        line = next((text.strip() for text in output.splitlines() if "Stale feature registry" in text), "")
        ok = completed.returncode != 0 and words in line and "churnfeat compile" in line and "make compile" in line
        print(f"{'ok  ' if ok else 'FAIL'} {what} edited without compiling: {line or output[-800:]}")
        compiled = compile_registry(copy)
        after = check_registry(copy, work)
        fresh = compiled.returncode == 0 and after.returncode == 0
        print(f"{'ok  ' if fresh else 'FAIL'} {what} edited, then compiled: dbt accepts the artifact")
        if not ok or not fresh:
            failures.append(what)
    return failures


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="churnfeat-definitions-"))
    try:
        failures = definition_errors(work) + stale_artifact(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("definition errors and stale artifact:", "OK" if not failures else f"{len(failures)} FAILED: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
