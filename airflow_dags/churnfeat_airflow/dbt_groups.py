"""The cosmos task groups of the dbt DAGs (hourly and daily), written once.

`dbt_task_group` renders a selection of dbt_project/ from the manifest built ahead
(`LoadMode.DBT_MANIFEST`) into one `dbt build --select <node>` task per seed and model (the
node and its data tests), run by the dbt of .venv/dbt. cosmos is imported when a DAG file
calls it, never by this module, so the helpers stay importable without it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from churnfeat_airflow.dbt import base_vars, dbt_path_env
from churnfeat_airflow.defaults import dag_defaults
from churnfeat_airflow.settings import Settings

log = logging.getLogger(__name__)

#: Left out of every task: dbt unit tests (CI runs them; a run's as_of var would override
#: their fixtures), the full_rebuild_check tests (they rescan the whole lake: the backfill
#: runs them) and the data_quality tests (the parity night runs them).
EXCLUDE = ["resource_type:unit_test", "tag:full_rebuild_check", "tag:data_quality"]
#: The Airflow pool (1 slot) every task that builds int_feature_events takes, so the hourly
#: and the daily DAG never build it at once (max_active_runs=1 only holds within one DAG).
#: Create it once per deployment: `airflow pools set churnfeat_int_feature_events 1 "..."`.
INT_FEATURE_EVENTS_POOL = "churnfeat_int_feature_events"
#: The hourly runs' lookback: the daily run's 48 h (the project default) keeps the guarantee
#: for files that land late (docs/dbt-offline.md "The schedule").
HOURLY_LOOKBACK_HOURS = 2
#: dbt's as_of of every run: the end of the data interval, never the wall clock.
AS_OF = "{{ data_interval_end.isoformat() }}"


def dbt_dag_args(
    settings: Settings,
    *,
    description: str,
    retry_delay: timedelta,
    execution_timeout: timedelta,
    dagrun_timeout: timedelta,
) -> dict[str, Any]:
    """The `DAG(...)` arguments of a dbt DAG but its id, doc and schedule: dag_defaults with two retries,
    one task at a time on DuckDB (one writer), the description (marked DEGRADED when the manifest is missing)."""
    degraded = "" if settings.dbt_manifest.is_file() else " [DEGRADED: dbt manifest missing]"
    return {
        "description": description + degraded,
        **dag_defaults(retries=2, retry_delay=retry_delay, execution_timeout=execution_timeout),
        # DuckDB takes one writer at a time; Snowflake runs independent models in parallel.
        "max_active_tasks": 1 if settings.dbt_target == "duckdb" else 8,
        "dagrun_timeout": dagrun_timeout,
        "tags": ["churnfeat", "dbt"],
    }


def first_task(settings: Settings) -> Any:
    """The first task of a dbt DAG, in the DAG being defined: `preflight`, or, when the manifest is
    missing, the one task `dbt_manifest_missing` that fails saying how to build it (then None: no group)."""
    from airflow.operators.python import PythonOperator

    from churnfeat_airflow.tasks import check_manifest_fresh, fail_manifest_missing

    if not settings.dbt_manifest.is_file():
        log.warning("dbt manifest %s missing; the DAG only reports it", settings.dbt_manifest)
        PythonOperator(task_id="dbt_manifest_missing", python_callable=fail_manifest_missing, retries=0)
        return None
    return PythonOperator(task_id="preflight", python_callable=check_manifest_fresh, retries=0)


def dbt_vars(settings: Settings, **extra: Any) -> dict[str, Any]:
    """The dbt vars of a cosmos task: the lake root, as_of = the interval's end, and `extra`."""
    return {**base_vars(settings), "as_of": AS_OF, **extra}


def dbt_task_group(
    settings: Settings,
    group_id: str,
    select: Sequence[str],
    *,
    dbt_vars: Mapping[str, Any],
    pool: str | None = None,
) -> Any:
    """A cosmos `DbtTaskGroup` of the nodes `select` picks (dbt selector syntax), in the DAG being defined."""
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    operator_args: dict[str, Any] = {"vars": dict(dbt_vars), "append_env": True}
    if pool is not None:
        operator_args["pool"] = pool
    return DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            dbt_project_path=settings.dbt_project_dir,
            manifest_path=settings.dbt_manifest,
            project_name="churnfeat",
            install_dbt_deps=False,
            # Paths only; credentials (SNOWFLAKE_*) come from the worker's environment.
            env_vars=dbt_path_env(settings),
        ),
        profile_config=ProfileConfig(
            profile_name="churnfeat",
            target_name=settings.dbt_target,
            profiles_yml_filepath=settings.dbt_profiles_dir / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=settings.dbt_executable,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.BUILD,
            select=list(select),
            exclude=EXCLUDE,
            emit_datasets=False,
        ),
        operator_args=operator_args,
    )
