"""Every DAG file imports cleanly, and parsing them runs no dbt (or any other process)."""

from __future__ import annotations

import subprocess

import pytest
from airflow.models import DagBag

from conftest import DAGS_DIR

EXPECTED_DAGS = {
    "churnfeat_dbt_hourly",
    "churnfeat_dbt_daily",
    "churnfeat_parity_nightly",
    "churnfeat_backfill",
    "churnfeat_deletion_daily",
    "churnfeat_version_rollout",
}


def test_the_dag_folder_imports_with_no_errors_and_holds_every_dag() -> None:
    bag = DagBag(dag_folder=str(DAGS_DIR), include_examples=False)
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXPECTED_DAGS


def test_parsing_the_dags_starts_no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError(f"a DAG file started a process while being parsed: {args[0] if args else kwargs}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    bag = DagBag(dag_folder=str(DAGS_DIR), include_examples=False)
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXPECTED_DAGS


def test_helpers_and_tests_are_not_parsed_as_dag_files() -> None:
    bag = DagBag(dag_folder=str(DAGS_DIR), include_examples=False)
    parsed = {path.split("/")[-1] for path in bag.file_last_changed}
    assert parsed == {
        "churnfeat_dbt_hourly.py",
        "churnfeat_dbt_daily.py",
        "churnfeat_parity_nightly.py",
        "churnfeat_backfill.py",
        "churnfeat_deletion_daily.py",
        "churnfeat_version_rollout.py",
    }
