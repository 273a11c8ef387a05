"""churnfeat_dbt_hourly end to end with dag.test(): cosmos runs each model with dbt from its venv.

An hour's run builds every model and its tests over the fixture lake with as_of = the
interval's end, and running the same interval again gives the same tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from airflow.models import DagBag
from airflow.utils.state import DagRunState

from conftest import DAGS_DIR, no_retries, write_fixture_lake
from support import query, table_digests

TABLES = [
    "stg_lake__events",
    "int_feature_events",
    "fct_feature_tiles",
    "fct_user_features",
    "fct_training_features",
    "label_spine",
]


def test_an_hourly_run_builds_and_tests_every_model_at_the_interval_end_and_reruns_identically(
    local_warehouse: dict[str, Path],
) -> None:
    write_fixture_lake(local_warehouse["lake"])
    # Settings are read when the DAG file is parsed: parse it after the fixture set them.
    bag = DagBag(dag_folder=str(DAGS_DIR / "churnfeat_dbt_hourly.py"), include_examples=False)
    assert bag.import_errors == {}
    dag = bag.get_dag("churnfeat_dbt_hourly")
    no_retries(dag)

    run_at = datetime(2025, 1, 15, 13, 5, tzinfo=UTC)
    run = dag.test(execution_date=run_at)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == DagRunState.SUCCESS, states
    interval_end = run.data_interval_end
    assert interval_end == datetime(2025, 1, 15, 13, tzinfo=UTC)

    duckdb = local_warehouse["duckdb"]
    as_of = query(duckdb, "select distinct as_of_ms from main.fct_user_features")
    assert as_of == [{"as_of_ms": int(interval_end.timestamp() * 1000)}]
    assert query(duckdb, "select count(*) as n from main.fct_user_features")[0]["n"] > 10
    first = table_digests(duckdb, TABLES)
    assert all(first[table] for table in TABLES), first

    run = dag.test(execution_date=run_at)
    assert run.state == DagRunState.SUCCESS
    assert table_digests(duckdb, TABLES) == first
