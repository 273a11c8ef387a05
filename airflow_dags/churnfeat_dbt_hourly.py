"""churnfeat_dbt_hourly: the hour's lake records into int_feature_events, every hour.

astronomer-cosmos renders the staging models and int_feature_events of dbt_project/ into one
Airflow task per model, each running `dbt build --select <node>` (the node and its data
tests) from the dbt virtualenv (.venv/dbt), never from Airflow's. The task graph comes from
the manifest built ahead (`airflow_dags/bin/build-dbt-manifest.sh`, i.e. `dbt parse`), so the
scheduler never runs dbt while it parses this file.

The hourly run uses `lookback_hours = 2`: it reads about three hours of lake partitions. The
daily DAG (churnfeat_dbt_daily) runs int_feature_events with the project's 48 h lookback,
which picks up files that landed later than 2 h, then builds the marts at midnight
(docs/dbt-offline.md "The schedule"). Both take the pool churnfeat_int_feature_events (one
slot), so int_feature_events is never built by two runs at once.

Each run is keyed on its data interval (`as_of = data_interval_end`); a rerun of the same
interval gives the same table (delete+insert on its unique key). Left out: dbt unit tests,
the full_rebuild_check and data_quality tests (churnfeat_airflow/dbt_groups.py).

When the manifest is missing the DAG still loads, with a single task `dbt_manifest_missing`
that fails and says how to build it.
"""

from __future__ import annotations

from datetime import timedelta

from airflow import DAG

from churnfeat_airflow.dbt_groups import (
    HOURLY_LOOKBACK_HOURS,
    INT_FEATURE_EVENTS_POOL,
    dbt_dag_args,
    dbt_task_group,
    dbt_vars,
    first_task,
)
from churnfeat_airflow.settings import load_settings

DAG_ID = "churnfeat_dbt_hourly"
#: The nodes each hourly run builds: the staging views and the incremental feature rows.
SELECT = ["path:models/staging", "int_feature_events"]

settings = load_settings()

with DAG(
    dag_id=DAG_ID,
    doc_md=__doc__,
    schedule="@hourly",
    # Incremental models must not be built by two runs at once (max_active_runs=1: dag_defaults;
    # across this DAG and the daily one: the pool).
    **dbt_dag_args(
        settings,
        description=f"dbt build of staging + int_feature_events, hourly, lookback {HOURLY_LOOKBACK_HOURS} h",
        retry_delay=timedelta(minutes=5),
        execution_timeout=timedelta(minutes=40),
        dagrun_timeout=timedelta(minutes=55),
    ),
) as dag:
    preflight = first_task(settings)
    if preflight is not None:
        lookback = dbt_vars(settings, lookback_hours=HOURLY_LOOKBACK_HOURS)
        preflight >> dbt_task_group(settings, "dbt", SELECT, dbt_vars=lookback, pool=INT_FEATURE_EVENTS_POOL)
