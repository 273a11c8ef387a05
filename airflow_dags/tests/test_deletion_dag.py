"""churnfeat_deletion_daily: its structure, and that a leftover fails it loudly without a retry."""

from __future__ import annotations

import shlex
import sys

import pytest
from airflow.exceptions import AirflowException, AirflowFailException
from airflow.models import DagBag

from conftest import DAGS_DIR


def _dag():
    return DagBag(dag_folder=str(DAGS_DIR), include_examples=False).get_dag("churnfeat_deletion_daily")


def test_the_deletion_dag_compacts_the_closed_day_then_erases_then_verifies_daily() -> None:
    dag = _dag()
    assert dag.schedule_interval == "@daily"
    assert [t.task_id for t in dag.topological_sort()] == ["compact", "run", "verify"]


def _command(monkeypatch: pytest.MonkeyPatch, exit_code: int, text: str) -> None:
    # A stand-in for `node dist/cli/churnfeat.js delete` that prints what the real one prints on a finding.
    script = f"import sys; print({text!r}); sys.exit({exit_code})"
    monkeypatch.setenv("CHURNFEAT_DELETE_COMMAND", f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}")


def test_a_leftover_found_by_verify_fails_the_dag_without_a_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    _command(monkeypatch, 1, '{"lake": {"rowsLeft": 3}}')
    verify = _dag().get_task("verify")
    with pytest.raises(AirflowFailException, match="LEFTOVERS"):
        verify.python_callable()


def test_a_store_left_open_fails_run_with_a_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    _command(monkeypatch, 1, '{"warehouse": {"failed": [1]}}')
    run = _dag().get_task("run")
    with pytest.raises(AirflowException) as raised:
        run.python_callable()
    assert not isinstance(raised.value, AirflowFailException)


def test_a_clean_verification_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    _command(monkeypatch, 0, '{"lake": {"rowsLeft": 0}}')
    _dag().get_task("verify").python_callable()


def test_compact_passes_the_data_interval_day_and_fails_on_a_bad_day(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from datetime import UTC, datetime

    seen = tmp_path / "argv"
    script = f"import sys; open({str(seen)!r}, 'w').write(' '.join(sys.argv[1:])); sys.exit(2)"
    monkeypatch.setenv("CHURNFEAT_LAKE_COMPACT_COMMAND", f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}")
    compact = _dag().get_task("compact")
    with pytest.raises(AirflowFailException, match="2026-11-30"):
        compact.python_callable(data_interval_start=datetime(2026, 11, 30, tzinfo=UTC))
    assert seen.read_text() == "--day 2026-11-30"


def test_an_empty_command_variable_means_the_default_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from churnfeat_deletion_daily import compact_command, delete_command

    monkeypatch.setenv("CHURNFEAT_DELETE_COMMAND", "")
    monkeypatch.setenv("CHURNFEAT_LAKE_COMPACT_COMMAND", "")
    assert delete_command("run") == ["node", "dist/cli/churnfeat.js", "delete", "run"]
    assert compact_command("2026-11-30") == ["node", "dist/cli/churnfeat.js", "lake-compact", "--day", "2026-11-30"]
