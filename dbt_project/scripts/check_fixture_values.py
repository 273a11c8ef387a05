"""Checks the marts built from the fixture lake against an independent Python evaluation
of docs/feature-semantics.md, plus a few values worked out by hand.

The Python side reads the feature definitions from the YAML and the records from the
Parquet lake; it shares no code with the dbt macros (it mirrors the sidecar's reference
evaluator instead: sidecar/src/windows/reference-evaluator.ts).

Usage (after `dbt build` against the fixture lake):
    .venv/dbt/bin/python dbt_project/scripts/check_fixture_values.py --lake DIR --warehouse FILE
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

import duckdb
import yaml

PROJECT = Path(__file__).resolve().parent.parent
UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
# The lateness policy both runtimes apply, from the registry artifact (written once, in the YAML).
ALLOWED_LATENESS_MS = json.loads((PROJECT / "feature_registry.json").read_text())["policies"]["allowedLatenessMs"]
MISSING = object()

# Worked out by hand from scripts/make_fixture_lake.py (see the comments there), at the
# default as_of 2025-01-15T12:00:30Z.
HAND_VALUES = {
    "u_err": {"errors_last_10m": 5, "errors_last_1h": 7, "errors_last_10m__latest_event_ms": 1736942425000},
    "u_dup": {"errors_last_10m": 1, "errors_last_1h": 2, "cancel_page_views_last_30m": 1},
    "u_cancel": {"cancel_page_views_last_30m": 2},
    "u_late": {"payment_failures_last_7d": 3, "payment_failures_last_7d__latest_event_ms": 1736769630000},
    "u_watch": {"watch_time_last_24h": 114.0},
    "u_titles": {"distinct_titles_last_7d": 3, "watch_time_last_24h": 12.0},
    "u_support": {"support_tickets_last_30d": 2},
    "u_new": {"errors_last_1h": 1, "errors_last_10m": 0},
}
HAND_TRAINING = {
    ("u_err", "2025-01-15 11:59:00", "as_available"): {"errors_last_10m": 3, "errors_last_1h": 5},
    ("u_err", "2025-01-15 11:59:00", "corrected"): {"errors_last_10m": 4, "errors_last_1h": 6},
    ("u_late", "2025-01-15 12:00:30", "as_available"): {"payment_failures_last_7d": 3},
    ("u_late", "2025-01-15 12:00:30", "corrected"): {"payment_failures_last_7d": 4},
    ("u_late", "2025-01-12 12:00:00", "as_available"): {
        "payment_failures_last_7d": 3,
        "payment_failures_last_7d__latest_event_ms": 1736593230000,
    },
    ("u_late", "2025-01-12 12:00:00", "corrected"): {
        "payment_failures_last_7d": 3,
        "payment_failures_last_7d__latest_event_ms": 1736503230000,
    },
}


def duration_ms(text: str) -> int:
    match = re.fullmatch(r"([1-9][0-9]*)(s|m|h|d)", text)
    assert match, text
    return int(match.group(1)) * UNIT_MS[match.group(2)]


def load_features() -> list[dict]:
    doc = yaml.safe_load((PROJECT / "models/marts/_marts__models.yml").read_text())
    features = []
    for model in doc["models"]:
        for column in model.get("columns", []):
            meta = ((column.get("config") or {}).get("meta") or {}).get("feature") or (column.get("meta") or {}).get(
                "feature"
            )
            if meta:
                features.append(
                    {
                        "name": column["name"],
                        "source": meta["source"],
                        "event_types": meta["filter"]["event_types"],
                        "where": meta["filter"].get("where") or [],
                        "function": meta["aggregation"]["function"],
                        "attribute": meta["aggregation"].get("attribute"),
                        "scale": meta["aggregation"].get("scale", 0),
                        "window": duration_ms(meta["window"]),
                        "g": duration_ms(meta["granularity"]),
                    }
                )
    return features


def attribute_of(attributes: dict, name: str):
    return attributes.get(name, MISSING)


def js_equal(a, b) -> bool:
    # JavaScript ===: same type and value (booleans are not numbers).
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def predicate_holds(predicate: dict, value) -> bool:
    missing = value is MISSING or value is None
    op = predicate["op"]
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool) and not missing
    if op == "exists":
        return not missing
    if op == "eq":
        return not missing and js_equal(value, predicate["value"])
    if op == "neq":
        return missing or not js_equal(value, predicate["value"])
    if op == "in":
        return not missing and any(js_equal(value, c) for c in predicate["values"])
    if op == "not_in":
        return missing or not any(js_equal(value, c) for c in predicate["values"])
    compare = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }[op]
    return is_number and compare(float(value), float(predicate["value"]))


def feature_input(feature: dict, event: dict):
    """What one event contributes (None when the feature does not read it)."""
    if event["source"] != feature["source"] or event["event_type"] not in feature["event_types"]:
        return None
    attributes = event["attrs"]
    if not all(predicate_holds(p, attribute_of(attributes, p["attribute"])) for p in feature["where"]):
        return None
    if feature["function"] == "count":
        return ("count", None)
    value = attribute_of(attributes, feature["attribute"])
    if feature["function"] in ("sum", "min", "max"):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value)):
            if feature["function"] == "sum":
                return ("sum", math.floor(float(value) * 10 ** feature["scale"] + 0.5))
            return (feature["function"], float(value))
        return None
    return (feature["function"], value) if isinstance(value, str) else None


def tile(ms: int, g: int) -> int:
    return (ms // g) * g


def evaluate(feature: dict, events: list[dict], as_of: int):
    count, fixed, extreme, distinct, last, latest = 0, 0, None, set(), None, None
    for event in events:
        if not (
            event["event_ms"] <= as_of
            and tile(event["event_ms"], feature["g"]) >= tile(as_of, feature["g"]) - feature["window"]
        ):
            continue
        contribution = feature_input(feature, event)
        if contribution is None:
            continue
        kind, value = contribution
        latest = event["event_ms"] if latest is None else max(latest, event["event_ms"])
        if kind == "count":
            count += 1
        elif kind == "sum":
            fixed += value
        elif kind == "min":
            extreme = value if extreme is None else min(extreme, value)
        elif kind == "max":
            extreme = value if extreme is None else max(extreme, value)
        elif kind == "count_distinct":
            distinct.add(value)
        elif kind == "last":
            candidate = (event["event_ms"], event["event_key"], value)
            if last is None or candidate[:2] > last[:2]:
                last = candidate
    result = {
        "count": count,
        "sum": fixed / 10 ** feature["scale"],
        "min": extreme,
        "max": extreme,
        "count_distinct": len(distinct),
        "last": last[2] if last else None,
    }[feature["function"]]
    return result, latest


def load_events(lake: Path) -> list[dict]:
    rows = duckdb.sql(
        f"""
        select distinct source, kafka_topic, kafka_partition, kafka_offset, user_id, event_key,
               event_type, event_ms, ingest_ms, attributes
        from read_parquet('{lake.as_posix()}/events/**/*.parquet', hive_partitioning = false, union_by_name = true)
        """
    ).fetchall()
    columns = [
        "source",
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        "user_id",
        "event_key",
        "event_type",
        "event_ms",
        "ingest_ms",
        "attributes",
    ]
    events = [dict(zip(columns, row, strict=True)) for row in rows]
    for event in events:
        event["attrs"] = json.loads(event["attributes"])
        event["too_late"] = event["ingest_ms"] - event["event_ms"] > ALLOWED_LATENESS_MS
    return events


def first_copies(events: list[dict], timely_only: bool) -> list[dict]:
    """feature-semantics §1: (drop too-late rows,) keep the first copy per
    (user_id, source, event_key) by (partition, offset)."""
    best: dict[tuple, dict] = {}
    for event in events:
        if timely_only and event["too_late"]:
            continue
        key = (event["user_id"], event["source"], event["event_key"])
        order = (event["kafka_partition"], event["kafka_offset"], event["kafka_topic"])
        if key not in best or order < (
            best[key]["kafka_partition"],
            best[key]["kafka_offset"],
            best[key]["kafka_topic"],
        ):
            best[key] = event
    return list(best.values())


def expected_row(features, events_by_user, user, as_of, mode):
    if mode == "as_available":
        pool = [e for e in events_by_user.get(user, {}).get("timely", []) if e["ingest_ms"] <= as_of]
    else:
        pool = events_by_user.get(user, {}).get("all", [])
    row = {}
    for feature in features:
        value, latest = evaluate(feature, pool, as_of)
        row[feature["name"]] = value
        row[feature["name"] + "__latest_event_ms"] = latest
    return row


def same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and float(a) == float(b)
    return a == b


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--schema", default="main")
    args = parser.parse_args()

    features = load_features()
    events = load_events(args.lake)
    events_by_user: dict[str, dict] = {}
    for copy in first_copies(events, timely_only=True):
        events_by_user.setdefault(copy["user_id"], {"timely": [], "all": []})["timely"].append(copy)
    for copy in first_copies(events, timely_only=False):
        events_by_user.setdefault(copy["user_id"], {"timely": [], "all": []})["all"].append(copy)

    warehouse = duckdb.connect(str(args.warehouse), read_only=True)
    problems: list[str] = []
    checked = 0

    result = warehouse.sql(f"select * from {args.schema}.fct_user_features")
    columns = result.columns
    actual_users = {row[0]: dict(zip(columns, row, strict=True)) for row in result.fetchall()}
    as_of = max(e["ingest_ms"] for e in events)
    expected_users = {e["user_id"] for e in events if e["ingest_ms"] <= as_of}
    if set(actual_users) != expected_users:
        problems.append(f"fct_user_features users differ: {sorted(set(actual_users) ^ expected_users)}")
    for user in sorted(expected_users & set(actual_users)):
        actual = actual_users[user]
        if actual["as_of_ms"] != as_of:
            problems.append(f"{user}: as_of_ms {actual['as_of_ms']} != {as_of}")
        expected = expected_row(features, events_by_user, user, as_of, "as_available")
        for column, value in expected.items():
            checked += 1
            if not same(actual[column], value):
                problems.append(f"fct_user_features {user}.{column}: dbt {actual[column]!r}, python {value!r}")
        for column, value in HAND_VALUES.get(user, {}).items():
            checked += 1
            if not same(actual[column], value):
                problems.append(f"fct_user_features {user}.{column}: dbt {actual[column]!r}, by hand {value!r}")

    result = warehouse.sql(
        f"select *, strftime(as_of, '%Y-%m-%d %H:%M:%S') as as_of_text from {args.schema}.fct_training_features"
    )
    columns = result.columns
    training_rows = [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
    spine_count = warehouse.sql(f"select count(*) from {args.schema}.label_spine").fetchall()[0][0]
    if len(training_rows) != 2 * spine_count:
        problems.append(f"fct_training_features has {len(training_rows)} rows, expected {2 * spine_count}")
    for actual in training_rows:
        expected = expected_row(features, events_by_user, actual["user_id"], actual["as_of_ms"], actual["mode"])
        for column, value in expected.items():
            checked += 1
            if not same(actual[column], value):
                problems.append(
                    f"fct_training_features {actual['user_id']}@{actual['as_of_text']}/{actual['mode']}.{column}: dbt {actual[column]!r}, python {value!r}"
                )
        for column, value in HAND_TRAINING.get((actual["user_id"], actual["as_of_text"], actual["mode"]), {}).items():
            checked += 1
            if not same(actual[column], value):
                problems.append(
                    f"fct_training_features {actual['user_id']}@{actual['as_of_text']}/{actual['mode']}.{column}: dbt {actual[column]!r}, by hand {value!r}"
                )

    for problem in problems:
        print("MISMATCH", problem)
    print(
        f"checked {checked} values of {len(actual_users)} users and {len(training_rows)} training rows: "
        f"{'OK' if not problems else str(len(problems)) + ' mismatches'}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
