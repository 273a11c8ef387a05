"""churnfeat_backfill: rebuild the offline feature tables for a range of days, on demand.

Trigger it by hand (no schedule) with params:
  start, end      UTC days, inclusive (YYYY-MM-DD); end may not be after the run's logical date
  features        feature names, or ["all"] (default)
  full_refresh    true to rebuild every feature from the whole lake with --full-refresh
                  (needed only when lake files were removed: the incremental path never
                  deletes a row)

What it rebuilds: int_feature_events and fct_feature_tiles (the incremental tables), then
fct_training_features, with all their data tests, including the tests tagged
full_rebuild_check that compare the incremental tables with a rebuild from the lake. It
reuses the models' own incremental paths (see churnfeat_airflow/backfill.py):
  all features    lookback_hours widened so the run rebuilds every event ingested from
                  `start` on;
  some features   their rows are deleted from both tables first and int_feature_events'
                  record of the definitions it built forgets them (run-operation
                  churnfeat_forget_built_definitions), so the models rebuild them from the
                  whole lake, as they do after a definition change.
Running it twice gives the same tables. It never builds fct_user_features (the hourly DAG
owns that snapshot) and never touches the online store: its dbt processes get an
allowlisted environment with no Redis or Kafka address.
"""

from __future__ import annotations

import json
import logging
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.decorators import dag, task
from airflow.exceptions import AirflowFailException
from airflow.models.param import Param

from churnfeat_airflow.backfill import (
    ALL,
    EXCLUDE,
    SELECT,
    BackfillParamError,
    BackfillPlan,
    delete_features_sql,
    lookback_hours_to_reach,
    newest_ingest_query,
    plan_backfill,
    range_counts_query,
)
from churnfeat_airflow.dbt import (
    DbtError,
    feature_names,
    listed_nodes,
    load_manifest,
    prepare_warehouse,
    project_var,
    run_dbt,
    show_rows,
)
from churnfeat_airflow.dbt_groups import INT_FEATURE_EVENTS_POOL
from churnfeat_airflow.defaults import dag_defaults
from churnfeat_airflow.settings import Settings, load_settings

log = logging.getLogger(__name__)


def _workdir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=f"churnfeat-backfill-{prefix}-")


def _plan_of(xcom: dict[str, Any]) -> BackfillPlan:
    return BackfillPlan(**xcom)


def _newest_ingest_ms(settings: Settings, workdir: Path) -> int | None:
    """The newest ingest_ms in int_feature_events (dbt show), or None while the table holds no row."""
    newest = show_rows(
        run_dbt(
            settings, ["show", "--inline", newest_ingest_query(), "--output", "json"], workdir=workdir, json_log=True
        )
    )
    value = newest[0].get("newest_ingest_ms")
    return None if value is None else int(value)


@dag(
    dag_id="churnfeat_backfill",
    description="Rebuild the offline churn feature tables for a range of days (manual)",
    doc_md=__doc__,
    schedule=None,
    # Two backfills must not rebuild the same tables at once (max_active_runs=1: dag_defaults).
    **dag_defaults(retries=1, retry_delay=timedelta(minutes=10), execution_timeout=timedelta(hours=6)),
    max_active_tasks=1,
    tags=["churnfeat", "dbt", "backfill"],
    params={
        "start": Param(type="string", format="date", description="First UTC day to rebuild (YYYY-MM-DD)."),
        "end": Param(type="string", format="date", description="Last UTC day to rebuild, inclusive (YYYY-MM-DD)."),
        "features": Param(
            [ALL],
            type="array",
            items={"type": "string"},
            minItems=1,
            description='Feature names to rebuild, or ["all"].',
        ),
        "full_refresh": Param(False, type="boolean", description="Rebuild everything with dbt --full-refresh."),
    },
)
def churnfeat_backfill() -> None:
    @task
    def plan(params: dict[str, Any] | None = None, data_interval_end: Any = None) -> dict[str, Any]:
        """Validates the params against the manifest's features; fails without retry when they are wrong."""
        settings = load_settings()
        try:
            known = feature_names(load_manifest(settings))
            result = plan_backfill(params or {}, known, data_interval_end.date())
        except (BackfillParamError, DbtError) as error:
            raise AirflowFailException(str(error)) from None
        log.info("backfill plan: %s", result)
        return result.to_xcom()

    @task(pool=INT_FEATURE_EVENTS_POOL)
    def clear_selected_features(planned: dict[str, Any]) -> list[str]:
        """Some features selected: delete their rows so the incremental models rebuild them in full."""
        backfill = _plan_of(planned)
        if backfill.all_features or backfill.full_refresh:
            log.info(
                "nothing to clear (%s)",
                "full refresh" if backfill.full_refresh else "all features: the rebuild widens the lookback instead",
            )
            return []
        settings = load_settings()
        prepare_warehouse(settings)
        with _workdir("clear") as tmp:
            workdir = Path(tmp)
            if _newest_ingest_ms(settings, workdir) is None:
                log.info("int_feature_events is not built yet: the rebuild builds every feature")
                return []
            listed = run_dbt(
                settings,
                [
                    "ls",
                    "--select",
                    "int_feature_events",
                    "fct_feature_tiles",
                    "--resource-type",
                    "model",
                    "--output",
                    "json",
                    "--output-keys",
                    "name",
                    "relation_name",
                    "--quiet",
                ],
                workdir=workdir,
            )
            relations = {node["name"]: node["relation_name"] for node in listed_nodes(listed)}
            for model in ("fct_feature_tiles", "int_feature_events"):
                sql = delete_features_sql(relations[model], backfill.features)
                run_dbt(settings, ["run-operation", "run_query", "--args", _yaml_args({"sql": sql})], workdir=workdir)
                log.info("cleared %s from %s", backfill.features, relations[model])
            # the model rebuilds what its last build did not cover (not what has no rows)
            run_dbt(
                settings,
                [
                    "run-operation",
                    "churnfeat_forget_built_definitions",
                    "--args",
                    _yaml_args({"features": backfill.features}),
                ],
                workdir=workdir,
            )
        return backfill.features

    @task(pool=INT_FEATURE_EVENTS_POOL)
    def rebuild(planned: dict[str, Any], cleared: list[str]) -> dict[str, Any]:
        """dbt build of the offline feature tables and their tests, for the plan."""
        backfill = _plan_of(planned)
        settings = load_settings()
        prepare_warehouse(settings)
        dbt_vars: dict[str, Any] = {}
        args = ["build", "--select", *SELECT, "--exclude", *EXCLUDE, "--exclude-resource-type", "unit_test"]
        with _workdir("rebuild") as tmp:
            workdir = Path(tmp)
            if backfill.full_refresh:
                args.append("--full-refresh")
            elif backfill.all_features:
                newest_ms = _newest_ingest_ms(settings, workdir)
                lookback = lookback_hours_to_reach(
                    backfill.start_ms,
                    newest_ms,
                    int(project_var(settings, "lookback_hours")),
                )
                if lookback is not None:
                    dbt_vars["lookback_hours"] = lookback
                log.info(
                    "newest ingest_ms built: %s; lookback_hours for this run: %s",
                    newest_ms,
                    lookback or "the project's default",
                )
            else:
                log.info(
                    "features %s were cleared: the models rebuild them from the whole lake",
                    cleared or backfill.features,
                )
            run_dbt(settings, args, workdir=workdir, dbt_vars=dbt_vars)
        return {"dbt_args": args, "dbt_vars": dbt_vars}

    @task
    def summarize(planned: dict[str, Any]) -> list[dict[str, Any]]:
        """Logs the rows now in int_feature_events per selected feature for the range (read only)."""
        backfill = _plan_of(planned)
        settings = load_settings()
        with _workdir("summary") as tmp:
            rows = show_rows(
                run_dbt(
                    settings,
                    ["show", "--inline", range_counts_query(backfill), "--output", "json", "--limit", "1000"],
                    workdir=Path(tmp),
                    json_log=True,
                )
            )
        log.info(
            "backfill %s..%s: %s",
            backfill.start,
            backfill.end,
            rows or "no feature rows for events ingested in the range",
        )
        for row in rows:
            log.info("  %-28s rows=%s users=%s", row["feature_name"], row["feature_rows"], row["users"])
        return rows

    planned = plan()
    cleared = clear_selected_features(planned)
    rebuilt = rebuild(planned, cleared)
    rebuilt >> summarize(planned)


def _yaml_args(value: dict[str, str]) -> str:
    # JSON is YAML: dbt reads --args with a YAML loader.
    return json.dumps(value)


churnfeat_backfill()
