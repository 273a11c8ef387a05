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


def test_the_hourly_dag_builds_every_model_with_cosmos_from_the_dbt_virtualenv(bag: DagBag) -> None:
    from cosmos.operators.local import DbtBuildLocalOperator

    dag = bag.get_dag("churnfeat_dbt_hourly")
    assert dag.schedule_interval == "@hourly"
    assert all(task.retries >= 1 for task in dag.tasks if task.task_id != "preflight")
    dbt_tasks = {task.task_id: task for task in dag.tasks if isinstance(task, DbtBuildLocalOperator)}
    # One task per seed and model of the project (read from the same manifest).
    manifest = json.loads(Path(os.environ["CHURNFEAT_DBT_MANIFEST"]).read_text())
    expected = {
        f"dbt.{node['name']}_{node['resource_type']}_build"
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "seed") and node["package_name"] == "churnfeat"
    }
    assert set(dbt_tasks) == expected
    assert {
        "dbt.int_feature_events_model_build",
        "dbt.fct_feature_tiles_model_build",
        "dbt.fct_user_features_model_build",
    } <= expected
    for task in dbt_tasks.values():
        # dbt from its own venv, never the interpreter running Airflow.
        assert Path(task.dbt_executable_path) == REPO / ".venv" / "dbt" / "bin" / "dbt"
        assert not str(task.dbt_executable_path).startswith(sys.prefix)
        assert task.invocation_mode.value == "subprocess"
        assert "resource_type:unit_test" in task.exclude and "tag:full_rebuild_check" in task.exclude
        assert task.upstream_task_ids, task.task_id
        assert "preflight" in dag.get_task(task.task_id).get_flat_relative_ids(upstream=True)
    # The lineage of the feature tables.
    assert "dbt.stg_lake__records_model_build" in dbt_tasks["dbt.int_feature_events_model_build"].upstream_task_ids
    assert "dbt.int_feature_events_model_build" in dbt_tasks["dbt.fct_feature_tiles_model_build"].upstream_task_ids
    assert "dbt.int_feature_events_model_build" in dbt_tasks["dbt.fct_user_features_model_build"].upstream_task_ids
    assert {"dbt.int_feature_events_model_build", "dbt.label_spine_seed_build"} <= dbt_tasks[
        "dbt.fct_training_features_model_build"
    ].upstream_task_ids


def test_the_hourly_dbt_vars_are_keyed_on_the_data_interval_end(bag: DagBag) -> None:
    dag = bag.get_dag("churnfeat_dbt_hourly")
    task = dag.get_task("dbt.fct_user_features_model_build")
    assert "now" not in str(task.vars)
    interval_end = pendulum.datetime(2025, 1, 15, 13, tz="UTC")
    rendered = task.render_template(task.vars, {"data_interval_end": interval_end})
    assert rendered["as_of"] == "2025-01-15T13:00:00+00:00"
    assert Path(rendered["lake_root"]).is_absolute()
    assert task.env["CHURNFEAT_DBT_TARGET"] == "duckdb"
    assert Path(task.env["CHURNFEAT_DUCKDB_PATH"]).is_absolute()


def test_the_hourly_dag_degrades_to_one_failing_task_when_the_manifest_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-manifest.json"
    monkeypatch.setenv("CHURNFEAT_DBT_MANIFEST", str(missing))
    bag = DagBag(dag_folder=str(DAGS_DIR / "churnfeat_dbt_hourly.py"), include_examples=False)
    assert bag.import_errors == {}
    dag = bag.get_dag("churnfeat_dbt_hourly")
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
