"""How the backfill DAG turns its params into dbt runs (pure functions, unit-tested).

The offline feature tables are incremental (dbt_project/models/intermediate/int_feature_events.sql
and marts/fct_feature_tiles.sql) and rebuild, on every run, each event that has a copy
ingested within var('lookback_hours') of the newest row already built, and in full every
feature that has no row in the table. A backfill reuses exactly these two paths, so its
result is by construction what a full refresh gives (the singular tests tagged
full_rebuild_check, part of the same `dbt build`, check it):

* all features:   widen lookback_hours so that the rebuild reaches back to `start`;
                  every event ingested from `start` on is rebuilt (a superset of the range).
* some features:  delete their rows from both tables first; the models then rebuild those
                  features from the whole lake (their history is a superset of the range),
                  and the other features get an ordinary incremental run.
* full_refresh:   `dbt build --full-refresh`: every feature, the whole lake. The only way
                  to drop rows whose lake files were removed (the incremental path never
                  deletes a row).

Dates are UTC days; `end` is inclusive. The online store is never involved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

#: The incremental models a backfill rebuilds, and the feature tables downstream of them.
REBUILT_MODELS = ("int_feature_events", "fct_feature_tiles")
#: dbt selection of a backfill: the two incremental models, their parents (the lake view),
#: the training table and its spine seed, and all their data tests; never the snapshot
#: mart fct_user_features, which the daily DAG builds at each day's as_of (int_users_seen, its
#: spine, is an ancestor of the selection and is rebuilt with the same widened lookback).
SELECT = ("@int_feature_events",)
EXCLUDE = ("fct_user_features",)
ALL = "all"
HOUR_MS = 3_600_000


class BackfillParamError(ValueError):
    """The params of a backfill run are invalid; the message names the param."""


@dataclass(frozen=True)
class BackfillPlan:
    start: str
    end: str
    start_ms: int
    end_ms: int
    """Exclusive: midnight UTC after `end`."""
    features: list[str]
    all_features: bool
    full_refresh: bool

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)


def _parse_day(name: str, value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise BackfillParamError(f"param {name}: {value!r} is not a date (YYYY-MM-DD)") from None


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def plan_backfill(params: Mapping[str, Any], known_features: Sequence[str], latest_day: date) -> BackfillPlan:
    """Validates the params against the project's features and the run's logical date."""
    start = _parse_day("start", params.get("start"))
    end = _parse_day("end", params.get("end"))
    if end < start:
        raise BackfillParamError(f"param end ({end}) is before start ({start})")
    if end > latest_day:
        raise BackfillParamError(
            f"param end ({end}) is after the run's logical date ({latest_day}): nothing to backfill there yet"
        )
    requested = params.get("features") or [ALL]
    if isinstance(requested, str):
        requested = [part.strip() for part in requested.split(",") if part.strip()]
    requested = sorted(set(requested))
    if not known_features:
        raise BackfillParamError("the dbt manifest declares no feature (column config.meta.feature)")
    if ALL in requested:
        if requested != [ALL]:
            raise BackfillParamError(f"param features: {ALL!r} cannot be combined with feature names ({requested})")
        features, all_features = sorted(known_features), True
    else:
        unknown = [name for name in requested if name not in known_features]
        if unknown:
            raise BackfillParamError(f"param features: unknown feature(s) {unknown}; known: {sorted(known_features)}")
        features, all_features = requested, set(requested) == set(known_features)
    return BackfillPlan(
        start=start.isoformat(),
        end=end.isoformat(),
        start_ms=_ms(start),
        end_ms=_ms(end + timedelta(days=1)),
        features=features,
        all_features=all_features,
        full_refresh=bool(params.get("full_refresh", False)),
    )


def lookback_hours_to_reach(start_ms: int, newest_ingest_ms: int | None, project_default: int) -> int | None:
    """lookback_hours that makes an incremental run rebuild every event ingested at or after start_ms.

    The models rebuild from max(ingest_ms) - lookback_hours; one spare hour covers rounding.
    None when the project's own lookback already reaches start_ms (never narrows it).
    """
    if newest_ingest_ms is None:
        return None
    needed = math.ceil((newest_ingest_ms - start_ms) / HOUR_MS) + 1
    return needed if needed > project_default else None


def newest_ingest_query() -> str:
    """Inline dbt SQL: the newest ingest_ms built so far, null when the table does not exist yet."""
    return (
        "{% set rel = load_relation(ref('int_feature_events')) %}"
        "{% if rel is none %}select cast(null as bigint) as newest_ingest_ms"
        "{% else %}select max(ingest_ms) as newest_ingest_ms from {{ rel }}{% endif %}"
    )


def range_counts_query(plan: BackfillPlan) -> str:
    """Inline dbt SQL: rows per selected feature for events ingested in the range (for the log)."""
    names = ", ".join(f"'{name}'" for name in plan.features)
    return (
        "select feature_name, count(*) as feature_rows, count(distinct user_id) as users, "
        "min(ingest_ms) as min_ingest_ms, max(ingest_ms) as max_ingest_ms "
        "from {{ ref('int_feature_events') }} "
        f"where ingest_ms >= {plan.start_ms} and ingest_ms < {plan.end_ms} and feature_name in ({names}) "
        "group by feature_name order by feature_name"
    )


def delete_features_sql(relation: str, features: Sequence[str]) -> str:
    names = ", ".join(f"'{name}'" for name in features)
    return f"delete from {relation} where feature_name in ({names})"
