"""Checks that a bad feature definition fails dbt with a message naming the YAML file,
the feature and the field (the same contract as the sidecar's FeatureDefinitionError).

For each case, copies the project to a temporary folder, breaks one field of one
definition in models/marts/_marts__models.yml, and runs
`dbt run-operation churnfeat_validate_features` (the same macro the on-run-start hook of
every run calls).

Usage: .venv/dbt/bin/python dbt_project/scripts/check_definition_errors.py
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
DBT = Path(sys.executable).parent / "dbt"
YAML_FILE = "models/marts/_marts__models.yml"


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


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="churnfeat-definitions-"))
    failures = []
    try:
        for feature, field, value, expected_field, expected_words in CASES:
            copy = work / "project"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
            doc = yaml.safe_load((copy / YAML_FILE).read_text())
            model = next(m for m in doc["models"] if m["name"] == "fct_user_features")
            column = next(c for c in model["columns"] if c["name"] == feature)
            set_path(column["config"]["meta"]["feature"], field, value)
            (copy / YAML_FILE).write_text(yaml.safe_dump(doc, sort_keys=False))
            env = {
                **os.environ,
                "CHURNFEAT_DUCKDB_PATH": str(work / "warehouse.duckdb"),
                "CHURNFEAT_LAKE_ROOT": str(work / "no-lake"),
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            }
            completed = subprocess.run(
                [
                    str(DBT),
                    "run-operation",
                    "churnfeat_validate_features",
                    "--project-dir",
                    str(copy),
                    "--profiles-dir",
                    str(copy),
                ],
                env=env,
                capture_output=True,
                text=True,
            )
            output = completed.stdout + completed.stderr
            line = next((text.strip() for text in output.splitlines() if "Invalid feature definition" in text), "")
            if expected_field is None:
                ok = completed.returncode == 0 and not line
                print(f"{'ok  ' if ok else 'FAIL'} {feature}.{field} = {value!r}: accepted")
            else:
                wanted = [YAML_FILE, f'feature "{feature}"', f'field "{expected_field}"', expected_words]
                ok = completed.returncode != 0 and all(part in line for part in wanted)
                print(f"{'ok  ' if ok else 'FAIL'} {feature}.{field} = {value!r}: {line or output[-800:]}")
            if not ok:
                failures.append(f"{feature}.{field}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("definition errors:", "OK" if not failures else f"{len(failures)} FAILED: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
