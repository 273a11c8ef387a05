"""Checks the parity job's entry point: `dbt run-operation churnfeat_point_in_time_to_table`
over a spine with per-source offset limits, against the Python evaluation of
check_fixture_values.py (as_available, counting only records at or below the offsets).

Usage (after `dbt build` against the fixture lake; the warehouse must not be open elsewhere):
    .venv/dbt/bin/python dbt_project/scripts/check_point_in_time_operation.py --lake DIR --warehouse FILE
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_fixture_values as reference

PROJECT = Path(__file__).resolve().parent.parent
DBT = Path(sys.executable).parent / "dbt"
AS_OF = 1736942430000  # the fixture's newest ingest time

# user, as_of, max_offset_client, max_offset_billing, max_offset_support (None = no limit)
SPINE = [
    ("u_err", AS_OF, 1066, None, None),
    ("u_err", AS_OF - 60_000, None, None, None),
    ("u_late", AS_OF, None, 1005, None),
    ("u_late", AS_OF, None, None, None),
    ("u_watch", AS_OF, 1040, None, None),
    ("u_support", AS_OF, None, None, 1000),
    ("nobody", AS_OF, 5, 5, 5),
]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--warehouse", type=Path, required=True)
    args = parser.parse_args()

    with duckdb.connect(str(args.warehouse)) as connection:
        connection.execute("create schema if not exists parity_check")
        connection.execute(
            "create or replace table parity_check.spine (user_id varchar, as_of_ms bigint, "
            "max_offset_client bigint, max_offset_billing bigint, max_offset_support bigint)"
        )
        connection.executemany("insert into parity_check.spine values (?, ?, ?, ?, ?)", SPINE)
    completed = subprocess.run(
        [
            str(DBT),
            "run-operation",
            "churnfeat_point_in_time_to_table",
            "--project-dir",
            str(PROJECT),
            "--profiles-dir",
            str(PROJECT),
            "--vars",
            "{lake_root: '" + args.lake.as_posix() + "'}",
            "--args",
            "{spine: parity_check.spine, target_table: parity_check.offline_features, modes: [as_available, corrected]}",
        ],
        env={**os.environ, "CHURNFEAT_DUCKDB_PATH": str(args.warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        print(completed.stdout[-4000:], completed.stderr[-2000:])
        return 1

    features = reference.load_features()
    events = reference.load_events(args.lake)
    problems, checked = [], 0
    with duckdb.connect(str(args.warehouse), read_only=True) as connection:
        result = connection.sql("select * from parity_check.offline_features")
        rows = [dict(zip(result.columns, row, strict=True)) for row in result.fetchall()]
    if len(rows) != 2 * len(SPINE):
        problems.append(f"{len(rows)} rows, expected {2 * len(SPINE)}")
    for row in rows:
        limits = {
            "client": row["max_offset_client"],
            "billing": row["max_offset_billing"],
            "support": row["max_offset_support"],
        }
        if row["mode"] == "as_available":
            pool = [e for e in events if limits[e["source"]] is None or e["kafka_offset"] <= limits[e["source"]]]
        else:
            pool = events  # offset limits apply to as_available only
        by_user: dict[str, dict] = {}
        for copy in reference.first_copies(events, timely_only=True):
            if copy in pool:
                by_user.setdefault(copy["user_id"], {"timely": [], "all": []})["timely"].append(copy)
        for copy in reference.first_copies(events, timely_only=False):
            by_user.setdefault(copy["user_id"], {"timely": [], "all": []})["all"].append(copy)
        expected = reference.expected_row(features, by_user, row["user_id"], row["as_of_ms"], row["mode"])
        for column, value in expected.items():
            checked += 1
            if not reference.same(row[column], value):
                problems.append(
                    f"{row['user_id']}@{row['as_of_ms']}/{row['mode']} limits {limits}: {column} dbt {row[column]!r}, python {value!r}"
                )
    for problem in problems:
        print("MISMATCH", problem)
    print(
        f"run-operation churnfeat_point_in_time_to_table: checked {checked} values of {len(rows)} rows: "
        f"{'OK' if not problems else str(len(problems)) + ' mismatches'}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
