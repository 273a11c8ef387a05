"""Runs dbt with the `snowflake` target against fakesnow (Snowflake emulated on DuckDB).

No Snowflake account is reachable offline, so this is the closest check of the Snowflake
side: dbt-snowflake renders every snowflake__ macro and sends the SQL through the
(patched) Python connector; fakesnow transpiles it with sqlglot and runs it on DuckDB.
It proves that the Snowflake SQL compiles and that dbt-snowflake's materializations run;
it cannot prove Snowflake semantics (see docs/dbt-offline.md for what failed and why).

Needs its own virtualenv (dbt-snowflake and fakesnow must not share dbt-duckdb's):
    python3 -m venv .venv/dbt-snowflake-try
    .venv/dbt-snowflake-try/bin/pip install dbt-core==1.11.16 dbt-snowflake==1.12.4 fakesnow==0.12.1

Usage (from the repo root):
    .venv/dbt-snowflake-try/bin/python dbt_project/scripts/fakesnow_dbt.py compile
    .venv/dbt-snowflake-try/bin/python dbt_project/scripts/fakesnow_dbt.py build --lake DIR [dbt args...]

With --lake, the fixture lake's records are first loaded into CHURNFEAT.LAKE.EVENTS (the
relation create_lake_stage defines on Snowflake) so models and tests have data.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
LAKE_COLUMNS = [
    ("source", "varchar"),
    ("kafka_topic", "varchar"),
    ("kafka_partition", "integer"),
    ("kafka_offset", "bigint"),
    ("kafka_ts_ms", "bigint"),
    ("event_key", "varchar"),
    ("event_id", "varchar"),
    ("user_id", "varchar"),
    ("device_id", "varchar"),
    ("event_type", "varchar"),
    ("event_ts", "varchar"),
    ("ingest_ts", "varchar"),
    ("event_ms", "bigint"),
    ("ingest_ms", "bigint"),
    ("attributes", "varchar"),
]


def load_lake(lake: Path) -> None:
    """Copies the fixture lake into CHURNFEAT.LAKE.EVENTS through the patched connector."""
    import duckdb
    import snowflake.connector

    rows = duckdb.sql(
        "select "
        + ", ".join(name for name, _ in LAKE_COLUMNS)
        + f" from read_parquet('{lake.as_posix()}/events/**/*.parquet', union_by_name = true)"
    ).fetchall()
    connection = snowflake.connector.connect(database="CHURNFEAT", schema="LAKE")
    cursor = connection.cursor()
    cursor.execute("create schema if not exists CHURNFEAT.LAKE")
    cursor.execute(
        "create or replace table CHURNFEAT.LAKE.EVENTS ("
        + ", ".join(f"{name} {kind}" for name, kind in LAKE_COLUMNS)
        + ", ingested_at timestamp_ntz, lake_date date, lake_hour varchar)"
    )
    placeholders = ", ".join(["%s"] * len(LAKE_COLUMNS))
    cursor.executemany(
        "insert into CHURNFEAT.LAKE.EVENTS (" + ", ".join(n for n, _ in LAKE_COLUMNS) + f") values ({placeholders})",
        rows,
    )
    # lake_date, lake_hour: the partition columns of create_lake_stage's tables (of kafka_ts_ms, UTC)
    cursor.execute(
        "update CHURNFEAT.LAKE.EVENTS set ingested_at = to_timestamp_ntz(ingest_ms, 3),"
        " lake_date = to_date(to_timestamp_ntz(kafka_ts_ms, 3)),"
        " lake_hour = lpad(hour(to_timestamp_ntz(kafka_ts_ms, 3))::varchar, 2, '0')"
    )
    print(f"loaded {len(rows)} lake records into CHURNFEAT.LAKE.EVENTS")
    connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", help="dbt command: compile, build, run, seed, test...")
    parser.add_argument("--lake", type=Path, help="fixture lake to load first")
    parser.add_argument("--db-path", type=Path, help="keep fakesnow's databases here (default: a temporary folder)")
    args, dbt_args = parser.parse_known_args()

    import fakesnow
    from dbt.cli.main import dbtRunner

    os.environ.setdefault("SNOWFLAKE_ACCOUNT", "fakesnow")
    os.environ.setdefault("SNOWFLAKE_USER", "fakesnow")
    os.environ.setdefault("SNOWFLAKE_PASSWORD", "fakesnow")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    db_path = args.db_path or Path(tempfile.mkdtemp(prefix="churnfeat-fakesnow-"))
    scratch = Path(tempfile.mkdtemp(prefix="churnfeat-fakesnow-dbt-"))
    with fakesnow.patch(db_path=str(db_path)):
        if args.lake:
            load_lake(args.lake)
        result = dbtRunner().invoke(
            [
                args.command,
                "--project-dir",
                str(PROJECT),
                "--profiles-dir",
                str(PROJECT),
                "--target",
                "snowflake",
                "--target-path",
                str(scratch / "target"),
                "--log-path",
                str(scratch / "logs"),
                *dbt_args,
            ]
        )
    print(f"fakesnow dbt {args.command}: {'OK' if result.success else 'FAILED'} (compiled SQL in {scratch / 'target'})")
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
