"""Python callables shared by the DAGs (they run in the worker, never at parse time)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from airflow.exceptions import AirflowException, AirflowFailException

from churnfeat_airflow.dbt import DbtError, prepare_warehouse, require_dbt, run_dbt
from churnfeat_airflow.settings import load_settings

log = logging.getLogger(__name__)

MANIFEST_HOWTO = (
    "build it with airflow_dags/bin/build-dbt-manifest.sh (dbt parse), then let the scheduler re-parse the DAG"
)


def build_offline_events(workdir_prefix: str) -> None:
    """`dbt run --select +int_feature_events stg_lake__events`: the offline side holds every lake record; a dbt failure is retried.

    stg_lake__events (the lake records the parity job classifies) is not a parent of int_feature_events.
    """
    settings = load_settings()
    prepare_warehouse(settings)
    with tempfile.TemporaryDirectory(prefix=workdir_prefix) as workdir:
        try:
            run_dbt(settings, ["run", "--select", "+int_feature_events", "stg_lake__events"], workdir=Path(workdir))
        except DbtError as error:
            raise AirflowException(str(error)) from None


def fail_manifest_missing() -> None:
    settings = load_settings()
    raise AirflowFailException(f"dbt manifest {settings.dbt_manifest} is missing: {MANIFEST_HOWTO}")


def _newest_project_file(project_dir: Path) -> tuple[float, Path | None]:
    newest, newest_path = 0.0, None
    candidates = [project_dir / "dbt_project.yml"]
    for folder in ("models", "macros", "seeds", "tests", "snapshots"):
        if (project_dir / folder).is_dir():
            candidates.extend(path for path in (project_dir / folder).rglob("*") if path.is_file())
    for path in candidates:
        if path.is_file() and path.stat().st_mtime > newest:
            newest, newest_path = path.stat().st_mtime, path
    return newest, newest_path


def check_manifest_fresh() -> None:
    """Fails when dbt or the manifest is missing; warns when the project changed after `dbt parse`.

    A stale manifest still runs (each task's dbt re-parses the project), but a model added
    since is not rendered into a task until the manifest is rebuilt.
    """
    settings = load_settings()
    try:
        require_dbt(settings)
    except DbtError as error:
        raise AirflowFailException(str(error)) from None
    if not settings.dbt_manifest.is_file():
        raise AirflowFailException(f"dbt manifest {settings.dbt_manifest} is missing: {MANIFEST_HOWTO}")
    newest, newest_path = _newest_project_file(settings.dbt_project_dir)
    if newest > settings.dbt_manifest.stat().st_mtime:
        log.warning(
            "dbt manifest %s is older than %s: the task graph may miss new models; %s",
            settings.dbt_manifest,
            newest_path,
            MANIFEST_HOWTO,
        )
    prepare_warehouse(settings)
    log.info(
        "dbt %s, manifest %s, target %s, lake %s",
        settings.dbt_executable,
        settings.dbt_manifest,
        settings.dbt_target,
        settings.lake_root,
    )
