"""The version rollout DAG: its order, its commands and its manual approval."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from airflow.exceptions import AirflowFailException
from airflow.models import DagBag

from churnfeat_airflow.rollout import (
    approval_given,
    approval_variable,
    bootstrap_command,
    check_version,
    cutover_command,
)
from churnfeat_airflow.settings import load_settings
from conftest import DAGS_DIR, REPO


@pytest.fixture(scope="module")
def dag():
    bag = DagBag(dag_folder=str(DAGS_DIR), include_examples=False)
    assert bag.import_errors == {}
    return bag.get_dag("churnfeat_version_rollout")


def test_the_rollout_runs_cut_then_dbt_then_bootstrap_then_parity_then_approval_then_cutover(dag) -> None:
    assert dag.schedule_interval is None
    assert dag.max_active_runs == 1 and dag.catchup is False
    order = ["take_cut", "build_offline", "bootstrap", "parity", "await_approval", "cutover"]
    assert {task.task_id for task in dag.tasks} == set(order)
    for first, then in itertools.pairwise(order):
        assert then in dag.get_task(first).downstream_task_ids, f"{first} -> {then}"
    assert dag.get_task("take_cut").upstream_task_ids == set()
    for task in dag.tasks:
        assert task.owner == "churnfeat-data-eng"
        assert isinstance(task.execution_timeout, timedelta) and task.execution_timeout > timedelta(0), task.task_id


def test_the_approval_waits_in_reschedule_mode_without_retries(dag) -> None:
    sensor = dag.get_task("await_approval")
    assert sensor.mode == "reschedule"
    assert sensor.retries == 0
    assert sensor.timeout >= 24 * 3600


def test_approval_is_given_by_the_variable_and_a_rejection_fails_the_run() -> None:
    assert approval_variable("abc123") == "churnfeat_rollout_approval_abc123"
    assert approval_given(None, "abc123") is False
    assert approval_given("", "abc123") is False
    assert approval_given("maybe", "abc123") is False
    assert approval_given(" Approve ", "abc123") is True
    with pytest.raises(AirflowFailException, match="rejected"):
        approval_given("reject", "abc123")


def test_the_commands_are_the_cli_bootstrap_in_two_steps_and_the_cutover() -> None:
    settings = load_settings({"CHURNFEAT_HOME": str(REPO), "CHURNFEAT_DBT_TARGET": "duckdb"})
    env = {"CHURNFEAT_CLI_COMMAND": "node dist/cli/churnfeat.js"}
    cut = bootstrap_command(settings, "v1", cut_only=True, environ=env)
    assert cut[:5] == ["node", "dist/cli/churnfeat.js", "bootstrap", "--version", "v1"]
    assert cut[-1] == "--cut-only"
    assert "--duckdb-path" in cut
    assert "--cut-only" not in bootstrap_command(settings, "v1", cut_only=False, environ=env)
    assert cutover_command("v1", env) == ["node", "dist/cli/churnfeat.js", "version", "cutover", "v1"]


@pytest.mark.parametrize("bad", ["", None, "v 1", "a" * 65, "v1;rm"])
def test_a_bad_version_param_fails_without_retry(bad) -> None:
    with pytest.raises(AirflowFailException, match="param version"):
        check_version(bad)
