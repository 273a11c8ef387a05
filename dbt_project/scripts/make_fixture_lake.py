"""Writes a small, deterministic fixture event lake for developing and testing the dbt project.

Layout and columns are those of the sidecar's lake writer (sidecar/src/lake/):
    <lake>/events/source=<source>/date=YYYY-MM-DD/hour=HH/<name>.parquet

The stream has two phases, so the incremental models can be tested against late files:
  initial  every record except the "delayed" ones
  late     the delayed records: a file of *earlier* offsets that the lake writer wrote
           late (one of them is a lower-offset copy of an event already in the lake, so a
           dedup flag of an existing row flips), a few new events, a new user, and a
           byte-identical rewrite of an existing file under a new name (a replay).

Hand-built users exercise every rule of docs/feature-semantics.md (tile boundaries, too
late, dedup, fixed-point rounding, distinct titles); seeded random users add volume.
The default as-of time of the marts is the newest ingest time: AS_OF below.

Usage (from the repo root, with the dbt virtualenv's Python, which has duckdb):
    .venv/dbt/bin/python dbt_project/scripts/make_fixture_lake.py --lake DIR [--phase all|initial|late]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

UTC = UTC
# The newest ingest time of the full fixture: fct_user_features' default as_of.
AS_OF = datetime(2025, 1, 15, 12, 0, 30, tzinfo=UTC)
NAMESPACE = "churnfeat"
PARTITIONS = {"client": 6, "billing": 3, "support": 3}

COLUMNS = [
    ("source", "VARCHAR"),
    ("kafka_topic", "VARCHAR"),
    ("kafka_partition", "INTEGER"),
    ("kafka_offset", "BIGINT"),
    ("kafka_ts_ms", "BIGINT"),
    ("event_key", "VARCHAR"),
    ("event_id", "VARCHAR"),
    ("user_id", "VARCHAR"),
    ("device_id", "VARCHAR"),
    ("event_type", "VARCHAR"),
    ("event_ts", "VARCHAR"),
    ("ingest_ts", "VARCHAR"),
    ("event_ms", "BIGINT"),
    ("ingest_ms", "BIGINT"),
    ("attributes", "VARCHAR"),
]


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def partition_of(source: str, user_id: str) -> int:
    return int(hashlib.md5(user_id.encode()).hexdigest(), 16) % PARTITIONS[source]


class Stream:
    """Collects records; offsets are assigned per (topic, partition) in ingest order."""

    def __init__(self) -> None:
        self.records: list[dict] = []
        self._counter = 0

    def add(
        self,
        source: str,
        user_id: str,
        event_type: str,
        event_ts: datetime,
        ingest_ts: datetime,
        attributes: dict | None = None,
        *,
        event_id: str | None = "auto",
        device_id: str | None = None,
        partition: int | None = None,
        delayed: bool = False,
        order: float | None = None,
    ) -> dict:
        """Adds one record. `order` breaks ties in offset order (defaults to ingest time)."""
        self._counter += 1
        attributes = attributes or {}
        device_id = device_id or f"dev-{user_id}"
        if event_id == "auto":
            event_id = f"evt-{self._counter:05d}"
        event_key = (
            event_id
            or "fp:"
            + hashlib.sha256(
                canonical_json([user_id, device_id, event_type, rfc3339(event_ts), attributes]).encode()
            ).hexdigest()
        )
        record = {
            "source": source,
            "kafka_topic": f"{NAMESPACE}.{source}.events",
            "kafka_partition": partition if partition is not None else partition_of(source, user_id),
            "kafka_offset": None,
            "kafka_ts_ms": ms(ingest_ts) + 5,
            "event_key": event_key,
            "event_id": event_id,
            "user_id": user_id,
            "device_id": device_id,
            "event_type": event_type,
            "event_ts": rfc3339(event_ts),
            "ingest_ts": rfc3339(ingest_ts),
            "event_ms": min(ms(event_ts), ms(ingest_ts)),
            "ingest_ms": ms(ingest_ts),
            "attributes": json.dumps(attributes, separators=(",", ":")),
            "_delayed": delayed,
            "_order": order if order is not None else float(ms(ingest_ts)),
            "_seq": self._counter,
        }
        self.records.append(record)
        return record

    def copy(self, record: dict, ingest_ts: datetime, **overrides) -> dict:
        """A source duplicate: same event (same key), its own Kafka record."""
        self._counter += 1
        duplicate = dict(record)
        duplicate.update(
            kafka_ts_ms=ms(ingest_ts) + 5,
            ingest_ts=rfc3339(ingest_ts),
            ingest_ms=ms(ingest_ts),
            event_ms=min(ms(datetime.fromisoformat(record["event_ts"].replace("Z", "+00:00"))), ms(ingest_ts)),
            _order=float(ms(ingest_ts)),
            _seq=self._counter,
            _delayed=False,
        )
        duplicate.update(overrides)
        self.records.append(duplicate)
        return duplicate

    def assign_offsets(self) -> None:
        by_partition: dict[tuple[str, int], list[dict]] = {}
        for record in self.records:
            by_partition.setdefault((record["kafka_topic"], record["kafka_partition"]), []).append(record)
        for records in by_partition.values():
            records.sort(key=lambda r: (r["_order"], r["_seq"]))
            for offset, record in enumerate(records):
                record["kafka_offset"] = 1000 + offset


def build_stream() -> Stream:
    s = Stream()
    t = AS_OF
    m = timedelta(minutes=1)
    sec = timedelta(seconds=1)
    h = timedelta(hours=1)
    d = timedelta(days=1)

    # u_err: tile boundaries of errors_last_10m (g=1m: tiles from 11:50:00) and
    # errors_last_1h (g=5m: tiles from 11:00:00) at AS_OF = 12:00:30.
    for event_ts in [
        t - timedelta(minutes=10, seconds=30, milliseconds=1),  # 11:49:59.999 -> out of 10m, in 1h
        t - timedelta(minutes=10, seconds=30),  # 11:50:00.000 -> first tile of 10m
        t - 5 * m,  # 11:55:30
        t - 10 * sec,  # 12:00:20
        t - timedelta(hours=1, seconds=30, milliseconds=1),  # 10:59:59.999 -> out of 1h
        t - timedelta(hours=1, seconds=30),  # 11:00:00.000 -> first tile of 1h
    ]:
        s.add("client", "u_err", "playback_error", event_ts, event_ts + 2 * sec, {"error_code": "E42"})
    # Device clock 3 minutes ahead: event_ms is clamped to ingest_ts (12:00:25).
    s.add("client", "u_err", "playback_error", t + 3 * m, t - 5 * sec, {"error_code": 7})
    # Arrived 2 minutes late: counted at AS_OF; for a spine row at 11:59:00 only in corrected mode.
    s.add("client", "u_err", "playback_error", t - 2 * m - 30 * sec, t - 10 * sec, {"error_code": "E1"})

    # u_dup: one error sent three times (same event_id), one fingerprinted event sent twice.
    first = s.add("client", "u_dup", "playback_error", t - 3 * m, t - 3 * m + sec, {"error_code": "E9"})
    s.copy(first, t - 3 * m + 4 * sec)
    s.copy(first, t - 2 * m)
    fp = s.add("client", "u_dup", "cancel_flow_view", t - 20 * m, t - 20 * m + sec, {"step": 2}, event_id=None)
    s.copy(fp, t - 19 * m)
    # A copy of an event whose first copy sits in a delayed file of earlier offsets: the
    # delayed copy becomes the first copy when it lands (flags of the old row flip).
    late_first = s.add(
        "client",
        "u_dup",
        "playback_error",
        t - 40 * m,
        t - 40 * m + sec,
        {"error_code": "E3"},
        delayed=True,
    )
    s.copy(late_first, t - 30 * m)
    # An event ingested 3 days ago (partition 5) and resent now on partition 0 (say, after
    # the topic's partition count changed): the new copy is too late, but it is the first
    # copy by (partition, offset), so is_first_copy of a row far outside the incremental
    # lookback flips when the delayed file lands.
    resent = s.add("client", "u_dup", "playback_error", t - 3 * d, t - 3 * d + sec, {"error_code": "E7"}, partition=5)
    s.copy(resent, t - h, kafka_partition=0, _delayed=True)

    # u_late: payment_failed events for payment_failures_last_7d (W=7d, g=1h: tiles from Jan 8 12:00).
    s.add("billing", "u_late", "payment_failed", t - 2 * d, t - 2 * d + m, {"amount": 9.99, "currency": "EUR"})
    s.add("billing", "u_late", "payment_failed", t - 6 * d, t - 6 * d + 10 * sec, {"amount": 9.99, "currency": "EUR"})
    # Too late: ingested 30h after it happened (counted only in corrected mode).
    s.add("billing", "u_late", "payment_failed", t - 3 * d, t - 3 * d + 30 * h, {"amount": 9.99, "currency": "EUR"})
    # Out of the 7d window (tile of Jan 8 11:00).
    s.add(
        "billing", "u_late", "payment_failed", t - 7 * d - 31 * m, t - 7 * d - 30 * m, {"amount": 1, "currency": "EUR"}
    )
    # Too late first copy, timely second copy of the same event_id (re-stamped on retry):
    # the too-late copy must not shadow the timely one (lateness before dedup).
    retried = s.add(
        "billing", "u_late", "payment_failed", t - 4 * d - 26 * h, t - 4 * d, {"amount": 5, "currency": "EUR"}
    )
    s.copy(retried, t - 4 * d + 2 * m, event_ts=rfc3339(t - 4 * d - h), event_ms=ms(t - 4 * d - h))

    # u_watch: watch_time_last_24h (sum, scale 0: floor(v + 0.5)); W=24h, g=15m: tiles from Jan 14 12:00.
    for minutes_ago, watched in [(5, 10), (6, 2.5), (7, 2.4), (8, 0.5), (9, 1.49999), (700, 30)]:
        s.add(
            "client",
            "u_watch",
            "playback_heartbeat",
            t - minutes_ago * m,
            t - minutes_ago * m + sec,
            {"watched_seconds": watched},
        )
    s.add(
        "client", "u_watch", "playback_heartbeat", t - d - 31 * sec, t - d - 20 * sec, {"watched_seconds": 100}
    )  # 11:59:59 Jan 14: out
    s.add(
        "client", "u_watch", "playback_heartbeat", t - d - 30 * sec, t - d - 20 * sec, {"watched_seconds": 60}
    )  # 12:00:00 Jan 14: in
    # u_titles: distinct_titles_last_7d (W=7d, g=1h).
    for hours_ago, content in [(1, "c1"), (2, "c2"), (3, "c1"), (30, "c3"), (7 * 24 + 1, "c4")]:
        s.add(
            "client", "u_titles", "playback_start", t - hours_ago * h, t - hours_ago * h + sec, {"content_id": content}
        )
    s.add("client", "u_titles", "playback_heartbeat", t - h, t - h + sec, {"watched_seconds": 12})

    # u_support: support_tickets_last_30d (W=30d, g=1d: tiles from Dec 16 00:00).
    s.add("support", "u_support", "ticket_created", t - 2 * d, t - 2 * d + sec, {"ticket_id": "T1"})
    s.add(
        "support",
        "u_support",
        "ticket_created",
        datetime(2024, 12, 16, 0, 0, tzinfo=UTC),
        datetime(2024, 12, 16, 0, 1, tzinfo=UTC),
        {"ticket_id": "T0"},
    )
    s.add(
        "support",
        "u_support",
        "ticket_created",
        datetime(2024, 12, 15, 23, 59, tzinfo=UTC),
        datetime(2024, 12, 16, 0, 1, tzinfo=UTC),
        {"ticket_id": "Tout"},
    )
    s.add("support", "u_support", "ticket_resolved", t - d, t - d + sec, {"ticket_id": "T1"})
    s.add("support", "u_support", "sentiment_score", t - d, t - d + sec, {"ticket_id": "T1", "score": -0.5})

    # u_cancel: cancel_page_views_last_30m (g=1m: tiles from 11:30:00).
    for ago in [timedelta(minutes=30, seconds=30), timedelta(minutes=30, seconds=31), 10 * m]:
        s.add("client", "u_cancel", "cancel_flow_view", t - ago, t - ago + sec, {"step": 1})
    s.add("client", "u_cancel", "plan_change_view", t - 5 * m, t - 5 * m + sec, {})
    # The newest record of the lake: its ingest time is AS_OF.
    s.add("client", "u_cancel", "search", t - sec, t, {"q": "cancel"})

    # Delayed file content that is new: a late heartbeat for u_watch and a brand-new user.
    s.add("client", "u_watch", "playback_heartbeat", t - 3 * h, t - 3 * h + sec, {"watched_seconds": 7}, delayed=True)
    s.add("client", "u_new", "playback_error", t - 50 * m, t - 50 * m + sec, {"error_code": "E5"}, delayed=True)

    # Seeded random users for volume.
    rng = random.Random(20250115)
    client_types = [
        "playback_start",
        "playback_error",
        "search",
        "add_to_watchlist",
        "cancel_flow_view",
        "plan_change_view",
        "playback_heartbeat",
    ]
    for n in range(25):
        user = f"u_rand_{n:02d}"
        for _ in range(rng.randint(4, 14)):
            ingest = t - timedelta(seconds=rng.randint(60, 8 * 86400))
            event = ingest - timedelta(seconds=rng.choice([0, 1, 2, 30, 300, 3600]))
            if rng.random() < 0.05:
                event = ingest + timedelta(seconds=45)  # clock ahead
            kind = rng.random()
            # Delayed files only hold records within the incremental lookback (48h).
            may_delay = ingest > t - timedelta(hours=40)
            if kind < 0.7:
                event_type = rng.choice(client_types)
                attrs = {
                    "playback_start": {"content_id": f"c{rng.randint(1, 9)}"},
                    "playback_error": {"error_code": rng.choice(["E1", "E2", 500])},
                    "playback_heartbeat": {"watched_seconds": rng.choice([15, 30, 29.5, 0.5, 12.25])},
                }.get(event_type, {"q": "x"})
                rec = s.add(
                    "client",
                    user,
                    event_type,
                    event,
                    ingest,
                    attrs,
                    event_id=None if rng.random() < 0.2 else "auto",
                    delayed=may_delay and rng.random() < 0.3,
                )
            elif kind < 0.85:
                rec = s.add(
                    "billing",
                    user,
                    rng.choice(["payment_failed", "payment_retried", "payment_succeeded"]),
                    event,
                    ingest,
                    {"amount": 9.99, "currency": "USD"},
                    delayed=may_delay and rng.random() < 0.3,
                )
            else:
                rec = s.add(
                    "support",
                    user,
                    rng.choice(["ticket_created", "ticket_resolved"]),
                    event,
                    ingest,
                    {"ticket_id": f"T{rng.randint(1, 99)}"},
                    delayed=may_delay and rng.random() < 0.3,
                )
            if rng.random() < 0.1 and not rec["_delayed"]:
                s.copy(
                    rec, datetime.fromtimestamp(rec["ingest_ms"] / 1000, UTC) + timedelta(seconds=rng.randint(1, 600))
                )
    s.assign_offsets()
    return s


def write_files(lake: Path, records: list[dict], tag: str) -> list[Path]:
    """One file per (source, date, hour) of ingest time, as the lake writer does."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for record in records:
        ingest = datetime.fromtimestamp(record["ingest_ms"] / 1000, UTC)
        groups.setdefault((record["source"], ingest.strftime("%Y-%m-%d"), ingest.strftime("%H")), []).append(record)
    written = []
    connection = duckdb.connect()
    connection.execute("create table rows (" + ", ".join(f"{n} {t}" for n, t in COLUMNS) + ")")
    for (source, date, hour), rows in sorted(groups.items()):
        folder = lake / "events" / f"source={source}" / f"date={date}" / f"hour={hour}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{tag}.parquet"
        connection.execute("delete from rows")
        connection.executemany(
            "insert into rows values (" + ", ".join("?" for _ in COLUMNS) + ")",
            [[row[n] for n, _ in COLUMNS] for row in rows],
        )
        connection.execute(f"copy rows to '{path.as_posix()}' (format parquet)")
        written.append(path)
    connection.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", required=True, type=Path, help="lake root to write (events/ is created under it)")
    parser.add_argument("--phase", choices=["all", "initial", "late"], default="all")
    parser.add_argument("--clean", action="store_true", help="remove <lake>/events first")
    args = parser.parse_args()
    if args.clean and (args.lake / "events").exists():
        shutil.rmtree(args.lake / "events")
    stream = build_stream()
    initial = [r for r in stream.records if not r["_delayed"]]
    delayed = [r for r in stream.records if r["_delayed"]]
    count = 0
    if args.phase in ("all", "initial"):
        count += len(initial)
        write_files(args.lake, initial, "part-initial")
    if args.phase in ("all", "late"):
        count += len(delayed)
        write_files(args.lake, delayed, "part-late")
        # A replayed file: byte-identical content under a new name (staging keeps one copy).
        replay_source = sorted((args.lake / "events").rglob("part-initial.parquet"))[-1]
        shutil.copyfile(replay_source, replay_source.with_name("part-replay.parquet"))
    print(f"wrote {count} records ({len(initial)} initial, {len(delayed)} delayed) under {args.lake}/events")


if __name__ == "__main__":
    main()
