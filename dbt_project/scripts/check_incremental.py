"""Proves that the incremental models equal a full refresh after late files land.

In a temporary folder:
  1. write the initial phase of the fixture lake; `dbt build` (first run = full build)
  2. snapshot int_feature_events; add the late phase (a delayed file of earlier offsets,
     including a lower-offset copy of an event already in the table, new events, a new
     user, a replayed file); `dbt build` again: int_feature_events and fct_feature_tiles
     run incrementally (their singular tests compare them to a full rebuild as well)
  3. check that the late files did flip flags of rows that were already in the table
     (otherwise this test would prove nothing), snapshot every mart
  4. `dbt build --full-refresh`; compare every mart with its snapshot, row for row
  5. change the lateness policy (part of every definition hash) in a copy of the project,
     recompile the registry artifact (`churnfeat compile`) and run incrementally: the
     pre_hook must drop the stale rows and rebuild, equal to a full refresh again
  6. add a feature that reads no record: that run rebuilds, the next one does not (the
     definitions a build covered are recorded in int_feature_events__definitions)
  7. remove a feature that has rows: the run rebuilds, its rows are gone, == full refresh

Usage (from anywhere; uses the dbt next to the running Python):
    .venv/dbt/bin/python dbt_project/scripts/check_incremental.py [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_support import finish

PROJECT = Path(__file__).resolve().parent.parent
REPO = PROJECT.parent
COMPILER = ["node", "--import", "tsx", "cli/churnfeat.ts", "compile"]
DBT = Path(sys.executable).parent / "dbt"
MARTS = ["int_feature_events", "int_users_seen", "fct_feature_tiles", "fct_user_features", "fct_training_features"]


def run(*args: str, env: dict) -> None:
    print("+", " ".join(args), flush=True)
    completed = subprocess.run(args, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        print(completed.stdout[-6000:], completed.stderr[-3000:])
        raise SystemExit(f"command failed: {' '.join(args)}")
    summary = [line for line in completed.stdout.splitlines() if "Done. PASS=" in line]
    print("  ", summary[-1].split("  ")[-1] if summary else "(no summary)")


def dbt(command: str, lake: Path, env: dict, *extra: str, variables: str = "", project: Path = PROJECT) -> None:
    run(
        str(DBT),
        command,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--vars",
        "{lake_root: '" + lake.as_posix() + "'" + variables + "}",
        *extra,
        env=env,
    )


def snapshot(warehouse: Path, schema: str) -> None:
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(f"create schema if not exists {schema}")
        for table in MARTS:
            connection.execute(f"create or replace table {schema}.{table} as select * from main.{table}")


def differences(warehouse: Path, schema: str) -> dict[str, int]:
    out = {}
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        for table in MARTS:
            out[table] = connection.sql(
                f"""select count(*) from (
                    (select * from main.{table} except all select * from {schema}.{table})
                    union all
                    (select * from {schema}.{table} except all select * from main.{table}))"""
            ).fetchall()[0][0]
    return out


# A feature whose filter matches no record of the fixture lake (no payment has that attribute).
NEVER_READ_FEATURE = """    columns:
      - name: never_read
        description: Reads no record (check_incremental.py).
        config:
          meta:
            feature:
              entity: user_id
              source: billing
              filter:
                event_types: [payment_retried]
                where:
                  - {attribute: no_such_attribute, op: exists}
              aggregation:
                function: count
              window: 1h
              granularity: 5m
              freshness_slo: 2m

"""
REBUILD_MARK = "rebuild everything"  # the comment int_feature_events renders on a full rebuild


def recompile(project: Path) -> None:
    print("+", " ".join(COMPILER), flush=True)
    subprocess.run([*COMPILER, str(project)], cwd=REPO, check=True)


def rebuilt(project: Path) -> bool:
    """Whether the last run of int_feature_events in `project` rebuilt everything."""
    sql = next((project / "target" / "compiled").glob("*/models/intermediate/int_feature_events.sql")).read_text()
    return REBUILD_MARK in sql


def feature_rows(warehouse: Path, feature: str) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(
            "select count(*) from main.int_feature_events where feature_name = ?", [feature]
        ).fetchall()[0][0]


def same_as_full_refresh(warehouse: Path, lake: Path, env: dict, project: Path, schema: str, what: str) -> list[str]:
    """Snapshots the marts into `schema`, rebuilds with --full-refresh and compares."""
    snapshot(warehouse, schema)
    dbt("build", lake, env, "--full-refresh", "--exclude", "test_type:unit", project=project)
    diff = differences(warehouse, schema)
    print(f"   after {what}, incremental vs full refresh, differing rows:", diff)
    return [f"after {what} incremental != full refresh: {diff}"] if any(diff.values()) else []


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="churnfeat-incremental-"))
    lake, warehouse = work / "lake", work / "warehouse.duckdb"
    env = {**os.environ, "CHURNFEAT_DUCKDB_PATH": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    make_lake = [sys.executable, str(PROJECT / "scripts" / "make_fixture_lake.py"), "--lake", str(lake)]
    failures = []
    try:
        run(*make_lake, "--phase", "initial", env=env)
        dbt("build", lake, env)
        snapshot(warehouse, "before_late_files")

        run(*make_lake, "--phase", "late", env=env)
        dbt("build", lake, env)
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            flipped = connection.sql(
                """select count(*) from before_late_files.int_feature_events as old
                   join main.int_feature_events as new using (feature_name, source, kafka_topic, kafka_partition, kafka_offset)
                   where old.is_first_copy <> new.is_first_copy or old.is_first_timely_copy <> new.is_first_timely_copy"""
            ).fetchall()[0][0]
            added = connection.sql(
                "select (select count(*) from main.int_feature_events) - (select count(*) from before_late_files.int_feature_events)"
            ).fetchall()[0][0]
        print(f"   late files added {added} feature rows and flipped the flags of {flipped} existing rows")
        if flipped == 0 or added == 0:
            failures.append("the late files changed nothing: the check would prove nothing")
        snapshot(warehouse, "incremental")

        dbt("build", lake, env, "--full-refresh")
        diff = differences(warehouse, "incremental")
        print("   incremental vs full refresh, differing rows:", diff)
        if any(diff.values()):
            failures.append(f"incremental != full refresh: {diff}")

        # A policy change is part of every definition hash: the incremental run must
        # rebuild everything and again equal a full refresh.
        copy = work / "project"
        shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
        marts = copy / "models" / "marts" / "_marts__models.yml"
        marts.write_text(marts.read_text().replace("allowed_lateness: 24h", "allowed_lateness: 1h", 1))
        recompile(copy)
        # The unit tests are written for the project's policy (24 h): left out here.
        dbt("build", lake, env, "--exclude", "test_type:unit", project=copy)
        snapshot(warehouse, "policy_incremental")
        dbt("build", lake, env, "--full-refresh", "--exclude", "test_type:unit", project=copy)
        diff = differences(warehouse, "policy_incremental")
        print("   after a lateness change, incremental vs full refresh, differing rows:", diff)
        if any(diff.values()):
            failures.append(f"after a definition change incremental != full refresh: {diff}")
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            stale = connection.sql(
                "select count(distinct definition_hash) from policy_incremental.int_feature_events"
            ).fetchall()[0][0]
            features = connection.sql(
                "select count(distinct feature_name) from policy_incremental.int_feature_events"
            ).fetchall()[0][0]
        if stale != features:
            failures.append(f"stale definition rows survived: {stale} hashes for {features} features")

        # A new feature that reads no record: the run that adds it rebuilds, the next one
        # does not (the definitions each build covered are recorded, not inferred from rows).
        marts.write_text(marts.read_text().replace("    columns:\n", NEVER_READ_FEATURE, 1))
        recompile(copy)
        dbt("build", lake, env, "--exclude", "test_type:unit", project=copy)
        if not rebuilt(copy):
            failures.append("the run that added a feature did not rebuild")
        dbt("build", lake, env, "--exclude", "test_type:unit", project=copy)
        if rebuilt(copy):
            failures.append("a feature with no rows forced a full rebuild on the next run")
        failures += same_as_full_refresh(warehouse, lake, env, copy, "never_read", "a feature with no rows")
        if feature_rows(warehouse, "never_read") != 0:
            failures.append("never_read has rows: the step proves nothing about a feature with no rows")

        # A removed feature (with rows): the run rebuilds, its rows are gone, == full refresh.
        removed = "cancel_page_views_last_30m"
        if feature_rows(warehouse, removed) == 0:
            failures.append(f"{removed} has no rows: the removal step would prove nothing")
        text = marts.read_text()
        start = text.index(f"      - name: {removed}\n")
        marts.write_text(text[:start] + text[text.index("      - name: ", start + 1) :])
        recompile(copy)
        dbt("build", lake, env, "--exclude", "test_type:unit", project=copy)
        if not rebuilt(copy):
            failures.append("the run after a feature was removed did not rebuild")
        if feature_rows(warehouse, removed) != 0:
            failures.append(f"the rows of the removed feature {removed} survived")
        failures += same_as_full_refresh(warehouse, lake, env, copy, "removed", "a feature was removed")
    except BaseException:
        failures.append("stopped by the error above")
        raise
    finally:
        status = finish(work, args.keep, failures, "incremental == full refresh")
    return status


if __name__ == "__main__":
    sys.exit(main())
