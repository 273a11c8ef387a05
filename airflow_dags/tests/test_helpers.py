"""The pure helpers behind the DAGs: settings, dbt environment, backfill planning."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from churnfeat_airflow.backfill import BackfillParamError, lookback_hours_to_reach, plan_backfill
from churnfeat_airflow.dbt import dbt_env, feature_names
from churnfeat_airflow.settings import DEFAULT_HOME, load_settings
from conftest import REPO

FEATURES = ["errors_last_10m", "errors_last_1h", "watch_time_last_24h"]
DAY = date(2025, 1, 20)


def test_the_default_home_is_the_folder_above_airflow_dags() -> None:
    assert DEFAULT_HOME == REPO
    settings = load_settings({})
    assert settings.home == REPO
    assert settings.dbt_executable == REPO / ".venv" / "dbt" / "bin" / "dbt"
    assert settings.dbt_manifest == REPO / "dbt_project" / "target" / "manifest.json"
    assert settings.dbt_target == "duckdb"


def test_home_comes_from_churnfeat_home_then_the_env_backed_airflow_variable() -> None:
    assert load_settings({"AIRFLOW_VAR_CHURNFEAT_HOME": "/srv/b"}).home == Path("/srv/b")
    assert load_settings({"CHURNFEAT_HOME": "/srv/a", "AIRFLOW_VAR_CHURNFEAT_HOME": "/srv/b"}).home == Path("/srv/a")
    settings = load_settings(
        {"CHURNFEAT_HOME": "/srv/a", "CHURNFEAT_LAKE_ROOT": "lake", "CHURNFEAT_DBT_TARGET": "snowflake"}
    )
    assert settings.lake_root == Path("/srv/a/lake")
    assert settings.dbt_target == "snowflake"


def test_dbt_gets_an_allowlisted_environment_without_any_online_store_address() -> None:
    worker = {
        "PATH": "/usr/bin",
        "HOME": "/home/airflow",
        "SNOWFLAKE_ACCOUNT": "acme",
        "CHURNFEAT_REDIS_URL": "redis://127.0.0.1:16379",
        "CHURNFEAT_KAFKA_BROKERS": "127.0.0.1:19092",
        "REDIS_URL": "redis://elsewhere",
        "AIRFLOW__CORE__FERNET_KEY": "secret",
    }
    env = dbt_env(load_settings({"CHURNFEAT_HOME": "/srv/a"}), worker)
    assert env["SNOWFLAKE_ACCOUNT"] == "acme"
    assert env["CHURNFEAT_DUCKDB_PATH"] == "/srv/a/.cache/warehouse/churnfeat.duckdb"
    assert env["CHURNFEAT_LAKE_ROOT"] == "/srv/a/.cache/lake"
    assert not [key for key in env if "REDIS" in key or "KAFKA" in key or key.startswith("AIRFLOW")]


def test_feature_names_come_from_column_meta_blocks() -> None:
    manifest = {
        "nodes": {
            "model.p.a": {
                "resource_type": "model",
                "columns": {"user_id": {"name": "user_id"}, "x": {"name": "x", "config": {"meta": {"feature": {}}}}},
            },
            "model.p.b": {"resource_type": "model", "columns": {"y": {"name": "y", "meta": {"feature": {}}}}},
            "test.p.c": {"resource_type": "test", "columns": {"z": {"name": "z", "meta": {"feature": {}}}}},
        }
    }
    assert feature_names(manifest) == ["x", "y"]


def test_a_backfill_plan_covers_whole_utc_days_with_end_inclusive() -> None:
    plan = plan_backfill({"start": "2025-01-13", "end": "2025-01-15"}, FEATURES, DAY)
    assert plan.start_ms == 1736726400000  # 2025-01-13T00:00:00Z
    assert plan.end_ms == 1736985600000  # 2025-01-16T00:00:00Z
    assert plan.features == sorted(FEATURES) and plan.all_features and not plan.full_refresh


def test_a_backfill_plan_takes_a_feature_subset_and_rejects_unknown_names() -> None:
    plan = plan_backfill({"start": "2025-01-13", "end": "2025-01-13", "features": ["errors_last_1h"]}, FEATURES, DAY)
    assert plan.features == ["errors_last_1h"] and not plan.all_features
    assert plan_backfill(
        {"start": "2025-01-13", "end": "2025-01-13", "features": list(FEATURES)}, FEATURES, DAY
    ).all_features
    with pytest.raises(BackfillParamError, match=r"unknown feature\(s\) \['errors_last_2h'\]"):
        plan_backfill({"start": "2025-01-13", "end": "2025-01-13", "features": ["errors_last_2h"]}, FEATURES, DAY)
    with pytest.raises(BackfillParamError, match="cannot be combined"):
        plan_backfill(
            {"start": "2025-01-13", "end": "2025-01-13", "features": ["all", "errors_last_1h"]}, FEATURES, DAY
        )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2025-01-15", "end": "2025-01-13"}, "param end .* is before start"),
        ({"start": "2025-13-01", "end": "2025-01-13"}, "param start: '2025-13-01' is not a date"),
        ({"start": None, "end": "2025-01-13"}, "param start: None is not a date"),
        ({"start": "2025-01-13", "end": "2025-01-21"}, "after the run's logical date"),
    ],
)
def test_a_backfill_plan_rejects_bad_dates(params: dict, message: str) -> None:
    with pytest.raises(BackfillParamError, match=message):
        plan_backfill(params, FEATURES, DAY)


def test_the_lookback_is_widened_to_reach_start_and_never_narrowed() -> None:
    start = 1736726400000
    assert lookback_hours_to_reach(start, None, 48) is None
    assert lookback_hours_to_reach(start, start + 10 * 3_600_000, 48) is None
    assert lookback_hours_to_reach(start, start + 60 * 3_600_000 + 1, 48) == 62
    assert lookback_hours_to_reach(start, start + 60 * 3_600_000, 24) == 61
