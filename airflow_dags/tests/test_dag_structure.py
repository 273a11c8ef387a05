"""Structure, schedule, params, retries, owners and timeouts of each DAG."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from pathlib import Path

import pendulum
import pytest
from airflow.exceptions import AirflowFailException
from airflow.models import DagBag

from conftest import DAGS_DIR, REPO

OWNER = "churnfeat-data-eng"


@pytest.fixture(scope="module")
def bag() -> DagBag:
    bag = DagBag(dag_folder=str(DAGS_DIR), include_examples=False)
    assert bag.import_errors == {}
    return bag


@pytest.mark.parametrize(
    "dag_id",
    [
        "churnfeat_dbt_hourly",
        "churnfeat_dbt_daily",
        "churnfeat_parity_nightly",
        "churnfeat_backfill",
        "churnfeat_version_rollout",
        "churnfeat_deletion_daily",
    ],
)
def test_every_task_has_an_owner_retries_a_retry_delay_and_a_timeout(bag: DagBag, dag_id: str) -> None:
    dag = bag.get_dag(dag_id)
    assert dag.doc_md and dag.doc_md.strip().startswith(dag_id), "the module docstring is the DAG's doc"
    assert dag.default_args["owner"] == OWNER
    assert dag.default_args["retries"] >= 1
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert "churnfeat" in dag.tags
    for task in dag.tasks:
        assert task.owner == OWNER, task.task_id
        assert isinstance(task.retry_delay, timedelta) and task.retry_delay > timedelta(0), task.task_id
        assert isinstance(task.execution_timeout, timedelta) and task.execution_timeout > timedelta(0), task.task_id
        # Tasks that fail on purpose (bad params, a missing manifest) say so with retries=0.
        assert task.retries >= 0


def _dbt_tasks(dag) -> dict:
    from cosmos.operators.local import DbtBuildLocalOperator

    return {task.task_id: task for task in dag.tasks if isinstance(task, DbtBuildLocalOperator)}


def _project_nodes() -> dict[str, dict]:
    manifest = json.loads(Path(os.environ["CHURNFEAT_DBT_MANIFEST"]).read_text())
    return {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "seed") and node["package_name"] == "churnfeat"
    }


def _assert_cosmos_from_the_dbt_venv(dag, dbt_tasks: dict) -> None:
    for task in dbt_tasks.values():
        # dbt from its own venv, never the interpreter running Airflow.
        assert Path(task.dbt_executable_path) == REPO / ".venv" / "dbt" / "bin" / "dbt"
        assert not str(task.dbt_executable_path).startswith(sys.prefix)
        assert task.invocation_mode.value == "subprocess"
        assert "resource_type:unit_test" in task.exclude and "tag:full_rebuild_check" in task.exclude
        assert task.upstream_task_ids, task.task_id
        assert "preflight" in dag.get_task(task.task_id).get_flat_relative_ids(upstream=True)


def test_the_hourly_dag_builds_staging_and_int_feature_events_with_the_short_lookback_in_the_pool(bag: DagBag) -> None:
    dag = bag.get_dag("churnfeat_dbt_hourly")
    assert dag.schedule_interval == "@hourly"
    assert all(task.retries >= 1 for task in dag.tasks if task.task_id != "preflight")
    dbt_tasks = _dbt_tasks(dag)
    staging = {name for name, node in _project_nodes().items() if "/staging/" in "/" + node["original_file_path"]}
    assert {"stg_lake__records", "stg_lake__events"} <= staging
    assert set(dbt_tasks) == {f"dbt.{name}_model_build" for name in staging | {"int_feature_events"}}
    _assert_cosmos_from_the_dbt_venv(dag, dbt_tasks)
    assert "dbt.stg_lake__records_model_build" in dbt_tasks["dbt.int_feature_events_model_build"].upstream_task_ids
    task = dbt_tasks["dbt.int_feature_events_model_build"]
    assert task.vars["lookback_hours"] == 2
    assert task.pool == "churnfeat_int_feature_events"


def test_the_daily_dag_builds_int_feature_events_in_the_pool_then_every_mart(bag: DagBag) -> None:
    dag = bag.get_dag("churnfeat_dbt_daily")
    assert dag.schedule_interval == "@daily"
    assert dag.max_active_runs == 1
    dbt_tasks = _dbt_tasks(dag)
    nodes = _project_nodes()
    marts = {name for name, node in nodes.items() if "/marts/" in "/" + node["original_file_path"]}
    assert {"fct_user_features", "fct_training_features", "fct_feature_tiles"} <= marts
    expected = {
        "events.int_feature_events_model_build",
        "marts.int_users_seen_model_build",
        "marts.label_spine_seed_build",
    }
    expected |= {f"marts.{name}_model_build" for name in marts}
    assert set(dbt_tasks) == expected
    _assert_cosmos_from_the_dbt_venv(dag, dbt_tasks)
    events = dbt_tasks["events.int_feature_events_model_build"]
    # the project's lookback (48 h): no lookback var
    assert "lookback_hours" not in events.vars
    assert events.pool == "churnfeat_int_feature_events"
    for task_id, task in dbt_tasks.items():
        if task_id.startswith("marts."):
            assert task.pool != "churnfeat_int_feature_events", task_id
            assert events.task_id in task.get_flat_relative_ids(upstream=True), task_id
    assert "marts.int_users_seen_model_build" in dbt_tasks["marts.fct_user_features_model_build"].upstream_task_ids
    assert "marts.label_spine_seed_build" in dbt_tasks["marts.fct_training_features_model_build"].upstream_task_ids


@pytest.mark.parametrize(
    ("dag_id", "task_id"),
    [
        ("churnfeat_dbt_hourly", "dbt.int_feature_events_model_build"),
        ("churnfeat_dbt_daily", "marts.fct_user_features_model_build"),
    ],
)
def test_the_dbt_vars_are_keyed_on_the_data_interval_end(bag: DagBag, dag_id: str, task_id: str) -> None:
    task = bag.get_dag(dag_id).get_task(task_id)
    assert "now" not in str(task.vars)
    interval_end = pendulum.datetime(2025, 1, 15, 13, tz="UTC")
    rendered = task.render_template(task.vars, {"data_interval_end": interval_end})
    assert rendered["as_of"] == "2025-01-15T13:00:00+00:00"
    assert Path(rendered["lake_root"]).is_absolute()
    assert task.env["CHURNFEAT_DBT_TARGET"] == "duckdb"
    assert Path(task.env["CHURNFEAT_DUCKDB_PATH"]).is_absolute()


@pytest.mark.parametrize("dag_id", ["churnfeat_dbt_hourly", "churnfeat_dbt_daily"])
def test_the_dbt_dags_degrade_to_one_failing_task_when_the_manifest_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dag_id: str
) -> None:
    missing = tmp_path / "no-manifest.json"
    monkeypatch.setenv("CHURNFEAT_DBT_MANIFEST", str(missing))
    bag = DagBag(dag_folder=str(DAGS_DIR / f"{dag_id}.py"), include_examples=False)
    assert bag.import_errors == {}
    dag = bag.get_dag(dag_id)
    assert dag.task_ids == ["dbt_manifest_missing"]
    assert "DEGRADED" in dag.description
    with pytest.raises(
        AirflowFailException,
        match=r"no-manifest\.json is missing: build it with airflow_dags/bin/build-dbt-manifest\.sh",
    ):
        dag.get_task("dbt_manifest_missing").python_callable()


def test_the_backfill_dag_is_manual_with_start_end_and_feature_params(bag: DagBag) -> None:
    dag = bag.get_dag("churnfeat_backfill")
    assert dag.schedule_interval is None
    assert dag.max_active_tasks == 1
    params = dag.params
    assert set(params.keys()) == {"start", "end", "features", "full_refresh"}
    assert params.get_param("features").value == ["all"]
    assert params.get_param("full_refresh").value is False
    assert params.get_param("start").schema["format"] == "date"
    assert params.get_param("end").schema["format"] == "date"
    assert [task.task_id for task in dag.topological_sort()] == [
        "plan",
        "clear_selected_features",
        "rebuild",
        "summarize",
    ]
    assert dag.get_task("rebuild").upstream_task_ids == {"plan", "clear_selected_features"}


def test_the_nightly_dag_runs_the_data_quality_tests_after_the_offline_build_and_fails_without_retry(
    bag: DagBag,
) -> None:
    dag = bag.get_dag("churnfeat_parity_nightly")
    task = dag.get_task("check_data_quality")
    assert task.upstream_task_ids == {"build_offline"}
    assert task.retries == 0
    assert dag.params["data_quality"] is True


@pytest.mark.parametrize(
    ("dag_id", "task_id"),
    [
        ("churnfeat_dbt_hourly", "dbt.int_feature_events_model_build"),
        ("churnfeat_dbt_daily", "events.int_feature_events_model_build"),
        ("churnfeat_parity_nightly", "build_offline"),
        ("churnfeat_version_rollout", "build_offline"),
        ("churnfeat_backfill", "clear_selected_features"),
        ("churnfeat_backfill", "rebuild"),
    ],
)
def test_every_task_that_writes_int_feature_events_takes_its_one_slot_pool(
    bag: DagBag, dag_id: str, task_id: str
) -> None:
    # max_active_runs=1 holds within one DAG only; the pool (one slot) serializes the DAGs.
    assert bag.get_dag(dag_id).get_task(task_id).pool == "churnfeat_int_feature_events"
