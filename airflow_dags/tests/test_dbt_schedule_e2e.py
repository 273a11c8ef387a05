"""The dbt schedule end to end with dag.test(): cosmos runs each model with dbt from its venv.

An hourly run builds the staging views and int_feature_events (lookback 2 h) and no mart;
the daily run then builds int_feature_events (48 h) and every mart with its tests at
as_of = midnight, the interval's end; running the same day again gives the same tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from airflow.models import DagBag
from airflow.utils.state import DagRunState

from conftest import DAGS_DIR, no_retries, write_fixture_lake
from support import query, table_digests

HOURLY_TABLES = ["stg_lake__events", "int_feature_events"]
MARTS = ["int_users_seen", "fct_feature_tiles", "fct_user_features", "fct_training_features", "label_spine"]


def _dag(name: str):
    # Settings are read when the DAG file is parsed: parse it after the fixture set them.
    bag = DagBag(dag_folder=str(DAGS_DIR / f"{name}.py"), include_examples=False)
    assert bag.import_errors == {}
    dag = bag.get_dag(name)
    no_retries(dag)
    return dag


def _succeeds(dag, run_at: datetime):
    run = dag.test(execution_date=run_at)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == DagRunState.SUCCESS, states
    return run


def test_the_hourly_run_builds_the_feature_rows_and_the_daily_run_the_marts_at_midnight_reruning_identically(
    local_warehouse: dict[str, Path],
) -> None:
    write_fixture_lake(local_warehouse["lake"])
    duckdb = local_warehouse["duckdb"]

    _succeeds(_dag("churnfeat_dbt_hourly"), datetime(2025, 1, 15, 13, 5, tzinfo=UTC))
    hourly = table_digests(duckdb, HOURLY_TABLES + MARTS)
    assert all(hourly[table] for table in HOURLY_TABLES), hourly
    assert all(hourly[table] is None for table in MARTS), "the hourly run builds no mart"

    daily = _dag("churnfeat_dbt_daily")
    run = _succeeds(daily, datetime(2025, 1, 15, 13, 5, tzinfo=UTC))
    interval_end = run.data_interval_end
    assert interval_end == datetime(2025, 1, 15, tzinfo=UTC)
    as_of = query(duckdb, "select distinct as_of_ms from main.fct_user_features")
    assert as_of == [{"as_of_ms": int(interval_end.timestamp() * 1000)}]
    # every user of the lake ingested by midnight, not only those with events in a window
    spine = query(
        duckdb,
        f"""select (select count(*) from main.fct_user_features) as users,
                   (select count(distinct user_id) from main.stg_lake__records
                     where ingest_ms <= {int(interval_end.timestamp() * 1000)}) as lake_users""",
    )[0]
    assert spine["users"] == spine["lake_users"] > 10, spine
    first = table_digests(duckdb, HOURLY_TABLES + MARTS)
    assert all(first[table] for table in MARTS), first

    _succeeds(daily, datetime(2025, 1, 15, 13, 5, tzinfo=UTC))
    assert table_digests(duckdb, HOURLY_TABLES + MARTS) == first
