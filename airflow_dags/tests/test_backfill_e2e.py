"""churnfeat_backfill end to end with dag.test(): DuckDB, the fixture lake, dbt from its venv.

The backfilled tables must equal a from-scratch build of the same lake, stay identical when
the backfill runs again (all features, a subset, a full refresh), and no process it starts
may know where the online store is: Redis is unreachable on purpose.
"""

from __future__ import annotations

import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from airflow.models import DagBag
from airflow.utils.state import DagRunState, TaskInstanceState

from churnfeat_airflow.dbt import run_dbt
from churnfeat_airflow.settings import load_settings
from conftest import DAGS_DIR, no_retries, write_fixture_lake
from support import query, table_digests

TABLES = ["int_feature_events", "fct_feature_tiles", "fct_training_features"]
UNREACHABLE_REDIS = "redis://127.0.0.1:1"


class ProcessSpy:
    """Records every process started while a DAG runs, then starts it for real."""

    def __init__(self, real: type[subprocess.Popen]) -> None:
        self.real = real
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(self, args, *rest, **kwargs):
        self.calls.append(([str(a) for a in args], dict(kwargs.get("env") or {})))
        return self.real(args, *rest, **kwargs)


@pytest.fixture
def backfill_dag():
    bag = DagBag(dag_folder=str(DAGS_DIR / "churnfeat_backfill.py"), include_examples=False)
    assert bag.import_errors == {}
    dag = bag.get_dag("churnfeat_backfill")
    no_retries(dag)
    return dag


def run_backfill(dag, logical_date: datetime, **conf):
    run = dag.test(execution_date=logical_date, run_conf=conf)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    return run, states


def reference_build(tmp_path: Path, lake: Path) -> Path:
    """The same lake built from scratch in another DuckDB file, with a plain `dbt build`."""
    path = tmp_path / "reference" / "churnfeat.duckdb"
    path.parent.mkdir(parents=True)
    settings = load_settings(
        {"CHURNFEAT_HOME": str(DAGS_DIR.parent), "CHURNFEAT_LAKE_ROOT": str(lake), "CHURNFEAT_DUCKDB_PATH": str(path)}
    )
    with tempfile.TemporaryDirectory() as workdir:
        run_dbt(
            settings,
            [
                "build",
                "--select",
                "@int_feature_events",
                "--exclude",
                "fct_user_features",
                "--exclude-resource-type",
                "unit_test",
            ],
            workdir=Path(workdir),
        )
    return path


def test_a_backfill_rebuilds_the_range_idempotently_and_never_touches_the_online_store(
    backfill_dag, local_warehouse: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHURNFEAT_REDIS_URL", UNREACHABLE_REDIS)
    monkeypatch.setenv("CHURNFEAT_KAFKA_BROKERS", "127.0.0.1:1")
    spy = ProcessSpy(subprocess.Popen)
    monkeypatch.setattr(subprocess, "Popen", spy)
    lake, duckdb = local_warehouse["lake"], local_warehouse["duckdb"]

    # 1. A first backfill on an empty warehouse builds every table from the lake.
    write_fixture_lake(lake, "initial")
    run, states = run_backfill(backfill_dag, datetime(2025, 1, 16, 0, tzinfo=UTC), start="2024-12-01", end="2025-01-15")
    assert run.state == DagRunState.SUCCESS, states
    first = table_digests(duckdb, TABLES)
    assert all(first[table] and first[table]["rows"] > 0 for table in TABLES), first

    # 2. Late files land for Jan 13-15 (a file of earlier offsets, new events, a replay);
    #    a backfill of those days must give what a from-scratch build of the lake gives.
    write_fixture_lake(lake, "late")
    run, states = run_backfill(backfill_dag, datetime(2025, 1, 16, 1, tzinfo=UTC), start="2025-01-13", end="2025-01-15")
    assert run.state == DagRunState.SUCCESS, states
    backfilled = table_digests(duckdb, TABLES)
    assert backfilled != first
    assert backfilled == table_digests(reference_build(tmp_path, lake), TABLES)
    rebuild_ti = run.get_task_instance("rebuild")
    assert (
        rebuild_ti.xcom_pull(task_ids="rebuild")["dbt_vars"]["lookback_hours"] >= 61
    )  # from Jan 13 00:00 to the newest ingest

    # 3. The same backfill again: the same tables.
    run, states = run_backfill(backfill_dag, datetime(2025, 1, 16, 2, tzinfo=UTC), start="2025-01-13", end="2025-01-15")
    assert run.state == DagRunState.SUCCESS, states
    assert table_digests(duckdb, TABLES) == backfilled

    # 4. Two features only: they are cleared and rebuilt from the whole lake; same tables.
    run, states = run_backfill(
        backfill_dag,
        datetime(2025, 1, 16, 3, tzinfo=UTC),
        start="2025-01-14",
        end="2025-01-15",
        features=["errors_last_1h", "distinct_titles_last_7d"],
    )
    assert run.state == DagRunState.SUCCESS, states
    assert run.get_task_instance("clear_selected_features").xcom_pull(task_ids="clear_selected_features") == [
        "distinct_titles_last_7d",
        "errors_last_1h",
    ]
    summary = run.get_task_instance("summarize").xcom_pull(task_ids="summarize")
    assert {row["feature_name"] for row in summary} == {"distinct_titles_last_7d", "errors_last_1h"}
    assert table_digests(duckdb, TABLES) == backfilled

    # 5. A full refresh: the same tables again.
    run, states = run_backfill(
        backfill_dag, datetime(2025, 1, 16, 4, tzinfo=UTC), start="2025-01-14", end="2025-01-15", full_refresh=True
    )
    assert run.state == DagRunState.SUCCESS, states
    assert table_digests(duckdb, TABLES) == backfilled

    # The snapshot mart is the hourly DAG's: a backfill never builds it.
    assert table_digests(duckdb, ["fct_user_features"]) == {"fct_user_features": None}
    assert (
        query(duckdb, "select count(*) as n from main.int_feature_events where feature_name = 'errors_last_1h'")[0]["n"]
        > 0
    )

    # Every process the backfill started was dbt from its venv, and none knew an online-store address.
    settings = load_settings()
    started = [(args, env) for args, env in spy.calls if args[0] == str(settings.dbt_executable)]
    assert len(started) >= 10
    for args, env in started:
        assert env, "dbt ran with the worker's whole environment"
        leaked = {
            key: value
            for key, value in env.items()
            if "REDIS" in key or "KAFKA" in key or "redis://" in value or value == "127.0.0.1:1"
        }
        assert leaked == {}, args
        assert not any("redis" in arg.lower() for arg in args), args
    assert all(args[0] != "redis-cli" for args, _ in spy.calls)


def test_a_backfill_with_bad_params_fails_before_touching_the_warehouse(
    backfill_dag, local_warehouse: dict[str, Path]
) -> None:
    run, states = run_backfill(backfill_dag, datetime(2025, 1, 17, tzinfo=UTC), start="2025-01-15", end="2025-01-13")
    assert run.state == DagRunState.FAILED
    assert states["plan"] == TaskInstanceState.FAILED
    assert {states["clear_selected_features"], states["rebuild"], states["summarize"]} == {
        TaskInstanceState.UPSTREAM_FAILED
    }
    assert not local_warehouse["duckdb"].exists()

    run, states = run_backfill(
        backfill_dag,
        datetime(2025, 1, 17, 1, tzinfo=UTC),
        start="2025-01-13",
        end="2025-01-13",
        features=["no_such_feature"],
    )
    assert run.state == DagRunState.FAILED
    assert states["plan"] == TaskInstanceState.FAILED
