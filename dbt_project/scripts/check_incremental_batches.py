"""Proves that hourly-style incremental runs of int_feature_events equal a full refresh, row by row.

A seeded lake of several days (client, billing and support events in the load generator's
event-type mixes, so every feature of the registry has rows) lands day by day (the last hour of each day one run late, as a
lagging lake writer would); after each landing one incremental dbt run with lookback_hours 2
(as an hourly run would: copies more than 2 h apart fall in different batches). Across the batch
boundaries it holds: copies re-sent minutes to 30 h after their first copy (timely and too
late), copies on another partition with a lower partition number (they win, and flip a row an
earlier run kept), late events whose event time is in an earlier day, devices whose clocks
run ahead (event_ms clamped, dedup by event_ts), event ids re-stamped two days later (another
event, past the dedup horizon, as online), events no feature reads, and a replayed file.
Then `--full-refresh` into the same warehouse and a comparison of every table built, both
ways (`except all`). The check also fails when the data did not exercise what it claims
(a source with no late duplicate dropped against an earlier run or no kept row flipped, a
feature with no rows, an incremental run that rebuilt everything, ...). Run against a model
whose incremental runs ignore the kept rows, it fails (352 rows differ).

Usage (uses the dbt next to the running Python):
    .venv/dbt/bin/python dbt_project/scripts/check_incremental_batches.py [--days 4] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_support import finish
from make_fixture_lake import COLUMNS, canonical_json, ms, rfc3339

PROJECT = Path(__file__).resolve().parent.parent
DBT = Path(sys.executable).parent / "dbt"
TABLES = ["int_feature_events", "int_users_seen", "fct_feature_tiles", "fct_user_features"]
SELECT = [
    "--select",
    "stg_lake__records",
    "int_feature_events",
    "int_users_seen",
    "fct_feature_tiles",
    "fct_user_features",
]
START = datetime(2025, 3, 3, tzinfo=UTC)
HOUR = timedelta(hours=1)
# the comment int_feature_events renders when an incremental run rebuilds everything
REBUILD_MARK = "rebuild everything"
PARTITIONS = 4
# The load generator's event-type mixes (sidecar/src/loadgen/event-stream.ts), with more
# billing and support than its 95/3/2 source shares so that every feature, the billing and
# support ones too, has rows, late copies and duplicates across the run boundaries.
SOURCES = [("client", 0.76), ("billing", 0.12), ("support", 0.12)]
MIXES = {
    "client": [
        ("playback_heartbeat", 0.5, lambda r: {"content_id": "c1", "watched_seconds": r.choice([10, 30, 2.5])}),
        ("playback_start", 0.15, lambda r: {"content_id": f"c{r.randrange(30)}"}),
        ("playback_error", 0.15, lambda r: {"error_code": r.choice(["E1", "E2"])}),
        ("cancel_flow_view", 0.1, lambda r: {}),
        ("search", 0.1, lambda r: {"query": "x"}),  # read by no feature
    ],
    "billing": [
        ("payment_succeeded", 0.6, lambda r: {"amount": r.choice([9.99, 15.49, 22.99]), "currency": "USD"}),
        ("payment_failed", 0.25, lambda r: {"amount": r.choice([9.99, 15.49, 22.99]), "currency": "USD"}),
        ("payment_retried", 0.15, lambda r: {"amount": 9.99, "currency": "USD"}),
    ],
    "support": [
        ("ticket_created", 0.45, lambda r: {"ticket_id": f"T-{r.randrange(10**6)}", "channel": "chat"}),
        ("ticket_resolved", 0.35, lambda r: {"ticket_id": f"T-{r.randrange(10**6)}", "channel": "email"}),
        ("sentiment_score", 0.2, lambda r: {"score": round(r.uniform(-1, 1), 2)}),
    ],
}


def draw(rng: random.Random, weighted: list) -> tuple:
    return rng.choices(weighted, weights=[item[1] for item in weighted])[0]


def generate(days: int, seed: int) -> list[dict]:
    """Every record of the lake, with offsets per partition in arrival (kafka_ts) order."""
    rng = random.Random(seed)
    events = []
    for n in range(days * 900):
        ingest = START + timedelta(seconds=rng.uniform(0, days * 86400 - 1))
        user = f"u{rng.randrange(60):02d}"
        source = draw(rng, SOURCES)[0]
        kind, _, attributes = draw(rng, MIXES[source])
        roll = rng.random()
        if roll < 0.04:
            event_ts = ingest - timedelta(hours=rng.uniform(1, 30))  # late: timely or too late
        elif roll < 0.06:
            event_ts = ingest + timedelta(hours=2)  # device clock ahead: event_ms clamped
        else:
            event_ts = ingest - timedelta(seconds=rng.uniform(0, 5))
        with_id = rng.random() < 0.9
        event = {
            "user_id": user,
            "device_id": f"d-{user}",
            "event_type": kind,
            "event_ts": event_ts,
            "attributes": attributes(rng),
            "event_id": f"e{seed}-{n}" if with_id else None,
            "source": source,
        }
        home = int(hashlib.md5(user.encode()).hexdigest(), 16) % PARTITIONS
        copies = [(ingest, home)]
        if rng.random() < 0.1:  # a re-sent copy, minutes to 30 h later (across a day boundary often)
            copies.append((ingest + timedelta(minutes=rng.uniform(1, 30 * 60)), home))
        if rng.random() < 0.05:  # a copy on another partition (a lower one wins by (partition, offset))
            copies.append(
                (ingest + timedelta(hours=rng.uniform(2, 20)), (home + rng.randrange(1, PARTITIONS)) % PARTITIONS)
            )
        for at, partition in copies:
            events.append({**event, "ingest": at, "partition": partition})
        if with_id and rng.random() < 0.02:  # the id re-stamped two days later: another event, past the horizon
            restamped = ingest + timedelta(days=2)
            events.append({**event, "event_ts": restamped, "ingest": restamped, "partition": home})
    end = START + timedelta(days=days)
    events = [e for e in events if e["ingest"] < end]
    events.sort(key=lambda e: e["ingest"])
    offsets: dict[tuple[str, int], int] = {}
    records = []
    for e in events:
        offset = offsets.get((e["source"], e["partition"]), 0)
        offsets[(e["source"], e["partition"])] = offset + 1
        event_ms, ingest_ms = ms(e["event_ts"]), ms(e["ingest"])
        fingerprint = canonical_json(
            [e["user_id"], e["device_id"], e["event_type"], rfc3339(e["event_ts"]), e["attributes"]]
        )
        records.append(
            {
                "source": e["source"],
                "kafka_topic": f"churnfeat.{e['source']}.events",
                "kafka_partition": e["partition"],
                "kafka_offset": offset,
                "kafka_ts_ms": ingest_ms + 5,
                "event_key": e["event_id"] or "fp:" + hashlib.sha256(fingerprint.encode()).hexdigest(),
                "event_id": e["event_id"],
                "user_id": e["user_id"],
                "device_id": e["device_id"],
                "event_type": e["event_type"],
                "event_ts": rfc3339(e["event_ts"]),
                "ingest_ts": rfc3339(e["ingest"]),
                "event_ms": min(event_ms, ingest_ms),
                "ingest_ms": ingest_ms,
                "attributes": json.dumps(e["attributes"]),
            }
        )
    return records


def write_hour(lake: Path, records: list[dict], hour: datetime, name: str = "part") -> None:
    """The records whose kafka_ts_ms falls in `hour`, as the lake writer would file them."""
    lo, hi = ms(hour), ms(hour + HOUR)
    for source, _ in SOURCES:
        rows = [r for r in records if lo <= r["kafka_ts_ms"] < hi and r["source"] == source]
        if rows:
            write_rows(lake / "events" / f"source={source}" / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}", rows, name)


def write_rows(folder: Path, rows: list[dict], name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as connection:
        columns = ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
        connection.execute(f"create table t ({columns})")
        connection.executemany(
            f"insert into t values ({', '.join(['?'] * len(COLUMNS))})",
            [[r[name] for name, _ in COLUMNS] for r in rows],
        )
        connection.execute(f"copy t to '{folder / (name + '.parquet')}' (format parquet)")


def dbt(lake: Path, env: dict, *extra: str) -> str:
    """Runs the models; returns int_feature_events' SQL as compiled (target path in the work folder)."""
    target = lake.parent / "target"
    args = [str(DBT), "run", "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)]
    args += ["--target-path", str(target)]
    # lookback 2 h, as an hourly run would use it: a copy more than 2 h older than the newest
    # record is in an earlier batch, so duplicates meet the copies kept by earlier runs
    args += ["--vars", "{lake_root: '" + lake.as_posix() + "', lookback_hours: 2}", *SELECT, *extra]
    completed = subprocess.run(args, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        print(completed.stdout[-6000:], completed.stderr[-3000:])
        raise SystemExit("dbt run failed")
    return next(target.glob("compiled/*/models/intermediate/int_feature_events.sql")).read_text()


def registry_features() -> set[str]:
    """The features of the compiled registry artifact."""
    registry = json.loads((PROJECT / "feature_registry.json").read_text())
    return {feature["name"] for feature in registry["features"]}


def scalar(connection: duckdb.DuckDBPyConnection, sql: str) -> int:
    return connection.sql(sql).fetchall()[0][0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="churnfeat-incremental-batches-"))
    lake, warehouse = work / "lake", work / "warehouse.duckdb"
    env = {**os.environ, "CHURNFEAT_DUCKDB_PATH": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    records = generate(args.days, args.seed)
    failures: list[str] = []
    flipped: dict[str, int] = {source: 0 for source, _ in SOURCES}
    rebuilds = 0
    try:
        for day in range(args.days):
            # this day's hours, except the last (it lands with the next run), and yesterday's last
            hours = [START + timedelta(days=day) + h * HOUR for h in range(23)]
            if day > 0:
                hours.append(START + timedelta(days=day) - HOUR)
            if day == args.days - 1:
                hours.append(START + timedelta(days=day + 1) - HOUR)
            for hour in hours:
                write_hour(lake, records, hour)
            if day == 2:  # a replayed file: an hour of day 1 rewritten under another name
                write_hour(lake, records, START + timedelta(days=1, hours=5), name="replayed")
            sql = dbt(lake, env)
            # a run that rebuilt everything would prove nothing about the incremental path
            rebuilt = day > 0 and REBUILD_MARK in sql
            rebuilds += rebuilt
            with duckdb.connect(str(warehouse)) as connection:
                if day > 0:
                    for source, count in connection.sql(
                        """select source, count(*) from previous as old
                           join main.int_feature_events as new
                           using (feature_name, source, kafka_topic, kafka_partition, kafka_offset)
                           where old.is_first_copy <> new.is_first_copy
                              or old.is_first_timely_copy <> new.is_first_timely_copy
                           group by source"""
                    ).fetchall():
                        flipped[source] += count
                connection.execute("create or replace table previous as select * from main.int_feature_events")
            print(
                f"   day {day}: {'first build' if day == 0 else 'REBUILT' if rebuilt else 'incremental run'} done",
                flush=True,
            )

        with duckdb.connect(str(warehouse)) as connection:
            connection.execute("create schema if not exists incremental")
            for table in TABLES:
                connection.execute(f"create or replace table incremental.{table} as select * from main.{table}")
            rows = scalar(connection, "select count(*) from main.int_feature_events")
            # a copy dropped as a duplicate of a first copy kept by an earlier run (another kafka day)
            late_duplicates = dict(
                connection.sql(
                    """select dup.source, count(*) from main.int_feature_events as dup
                       join main.int_feature_events as first
                         on dup.feature_name = first.feature_name and dup.user_id = first.user_id
                        and dup.event_key = first.event_key and first.is_first_copy and not dup.is_first_copy
                       where dup.kafka_ts_ms // 86400000 > first.kafka_ts_ms // 86400000
                       group by dup.source"""
                ).fetchall()
            )
            features_with_rows = {
                name
                for (name,) in connection.sql("select distinct feature_name from main.int_feature_events").fetchall()
            }
            late_timely = scalar(
                connection,
                """select count(*) from main.int_feature_events
                   where is_first_timely_copy and event_ms // 86400000 < kafka_ts_ms // 86400000""",
            )
            clamped = scalar(connection, "select count(*) from main.int_feature_events where dedup_ms > event_ms")
            restamped = scalar(
                connection,
                """select count(*) from (
                     select feature_name, user_id, event_key from main.int_feature_events
                     where is_first_copy group by all having count(*) > 1)""",
            )
        print(
            f"   {rows} rows of {len(features_with_rows)} features; late duplicates dropped against an earlier "
            f"run's copy {late_duplicates}, kept rows flipped by a later run {flipped}, {late_timely} timely rows "
            f"of an earlier day, {clamped} clamped rows, {restamped} re-stamped ids counted twice, "
            f"{rebuilds} of {args.days - 1} incremental runs rebuilt everything"
        )
        for feature in sorted(registry_features() - features_with_rows):
            failures.append(f"feature {feature} has no rows: the check would prove nothing about it")
        if rebuilds:
            failures.append(f"{rebuilds} incremental runs were full rebuilds: the check would prove nothing")
        for what, count in [
            *[
                (f"{source} late duplicates across a run boundary", late_duplicates.get(source, 0))
                for source, _ in SOURCES
            ],
            *[(f"{source} kept rows flipped by a later run", flipped[source]) for source, _ in SOURCES],
            ("timely late events across a day boundary", late_timely),
            ("clamped rows", clamped),
            ("re-stamped ids past the horizon", restamped),
        ]:
            if count == 0:
                failures.append(f"the data has no {what}: the check would prove nothing")

        dbt(lake, env, "--full-refresh")
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            for table in TABLES:
                diff = scalar(
                    connection,
                    f"""select count(*) from (
                        (select * from main.{table} except all select * from incremental.{table})
                        union all
                        (select * from incremental.{table} except all select * from main.{table}))""",
                )
                print(f"   {table}: {diff} rows differ between {args.days} incremental runs and a full refresh")
                if diff:
                    failures.append(f"{table}: incremental != full refresh ({diff} rows)")
    except BaseException:
        failures.append("stopped by the error above")
        raise
    finally:
        status = finish(work, args.keep, failures, "incremental batches == full refresh")
    return status


if __name__ == "__main__":
    sys.exit(main())
