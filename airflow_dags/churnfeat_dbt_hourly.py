"""churnfeat_dbt_hourly: build and test the churn feature models with dbt, every hour.

astronomer-cosmos renders dbt_project/ into one Airflow task per seed and model, each running
`dbt build --select <node>` (the node and its data tests) from the dbt virtualenv
(.venv/dbt), never from Airflow's. The task graph comes from the manifest built ahead
(`airflow_dags/bin/build-dbt-manifest.sh`, i.e. `dbt parse`), so the scheduler never runs
dbt while it parses this file.

Each run is keyed on its data interval: dbt gets `as_of = data_interval_end`, so
fct_user_features holds the features as the online store could have served them at the
end of the hour, and a rerun of the same interval gives the same tables (the incremental
models are delete+insert on their unique keys).

Left out of the hourly runs: dbt unit tests (they belong to CI, and a run's as_of var
would override their fixtures) and the tests tagged full_rebuild_check (they rescan the
whole lake; the backfill DAG runs them).

When the manifest is missing the DAG still loads, with a single task `dbt_manifest_missing`
that fails and says how to build it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow import DAG
from airflow.operators.python import PythonOperator

from churnfeat_airflow.dbt import base_vars, dbt_path_env
from churnfeat_airflow.defaults import dag_defaults
from churnfeat_airflow.settings import load_settings
from churnfeat_airflow.tasks import check_manifest_fresh, fail_manifest_missing

DAG_ID = "churnfeat_dbt_hourly"
#: Seeds and models run with `dbt build`; these selectors are left out of every task.
EXCLUDE = ["resource_type:unit_test", "tag:full_rebuild_check", "tag:data_quality"]

settings = load_settings()
# A stat, not a read: cosmos itself reads the manifest below while parsing.
manifest_present = settings.dbt_manifest.is_file()
if not manifest_present:
    logging.getLogger(__name__).warning(
        "%s: dbt manifest %s missing; the DAG only reports it", DAG_ID, settings.dbt_manifest
    )

with DAG(
    dag_id=DAG_ID,
    description="dbt build of the churn feature models, hourly, as_of = data_interval_end"
    + ("" if manifest_present else " [DEGRADED: dbt manifest missing]"),
    doc_md=__doc__,
    schedule="@hourly",
    # Incremental models must not be built by two runs at once (max_active_runs=1: dag_defaults).
    **dag_defaults(retries=2, retry_delay=timedelta(minutes=5), execution_timeout=timedelta(minutes=40)),
    # DuckDB takes one writer at a time; Snowflake runs independent models in parallel.
    max_active_tasks=1 if settings.dbt_target == "duckdb" else 8,
    dagrun_timeout=timedelta(minutes=55),
    tags=["churnfeat", "dbt"],
) as dag:
    if not manifest_present:
        PythonOperator(
            task_id="dbt_manifest_missing",
            python_callable=fail_manifest_missing,
            retries=0,
        )
    else:
        from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
        from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

        preflight = PythonOperator(task_id="preflight", python_callable=check_manifest_fresh, retries=0)
        dbt_build = DbtTaskGroup(
            group_id="dbt",
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
                exclude=EXCLUDE,
                emit_datasets=False,
            ),
            operator_args={
                # Templated per run: the interval, never the wall clock.
                "vars": {**base_vars(settings), "as_of": "{{ data_interval_end.isoformat() }}"},
                "append_env": True,
            },
        )
        preflight >> dbt_build
