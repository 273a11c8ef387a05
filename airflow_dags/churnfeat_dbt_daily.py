"""churnfeat_dbt_daily: int_feature_events with the 48 h lookback, then the marts at midnight.

Once a day, keyed on the data interval (as_of = data_interval_end, midnight UTC):
  1. `events`: int_feature_events with the project's lookback (48 h), which takes in the lake
     files that landed more than the hourly runs' 2 h late, and flips whatever they shadow;
     in the pool churnfeat_int_feature_events (one slot), so it never runs while an hourly
     run builds the same table;
  2. `marts`: int_users_seen, fct_user_features (the features of every user at as_of),
     fct_training_features (point in time over the label spine), fct_feature_tiles and the
     label_spine seed, each with its data tests.
astronomer-cosmos renders both groups from the manifest built ahead, one `dbt build --select
<node>` task per node, with the dbt of .venv/dbt (churnfeat_airflow/dbt_groups.py).

A DAG of its own rather than the hourly DAG's 00:00 run: the marts take longer than an hour's
slot (its dagrun_timeout is 55 min), their failure should not block the next hourly run, and
the hourly DAG stays a static graph without a branch on the wall clock.

When the manifest is missing the DAG still loads, with a single task `dbt_manifest_missing`
that fails and says how to build it.
"""

from __future__ import annotations

from datetime import timedelta

from airflow import DAG

from churnfeat_airflow.dbt_groups import INT_FEATURE_EVENTS_POOL, dbt_dag_args, dbt_task_group, dbt_vars, first_task
from churnfeat_airflow.settings import load_settings

DAG_ID = "churnfeat_dbt_daily"
#: What the daily run builds after int_feature_events: the user spine and the marts.
MARTS = ["int_users_seen", "path:models/marts", "label_spine"]

settings = load_settings()

with DAG(
    dag_id=DAG_ID,
    doc_md=__doc__,
    schedule="@daily",
    **dbt_dag_args(
        settings,
        description="dbt build of int_feature_events (48 h lookback) and the marts, daily, as_of = data_interval_end",
        retry_delay=timedelta(minutes=10),
        execution_timeout=timedelta(hours=2),
        dagrun_timeout=timedelta(hours=6),
    ),
) as dag:
    preflight = first_task(settings)
    if preflight is not None:
        # no lookback var: the project's default (48 h, dbt_project.yml)
        events = dbt_task_group(
            settings, "events", ["int_feature_events"], dbt_vars=dbt_vars(settings), pool=INT_FEATURE_EVENTS_POOL
        )
        preflight >> events >> dbt_task_group(settings, "marts", MARTS, dbt_vars=dbt_vars(settings))
