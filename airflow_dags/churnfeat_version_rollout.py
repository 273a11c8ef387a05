"""churnfeat_version_rollout: bootstrap a registry version, check it, wait for approval, cut over.

Triggered by hand with param `version` (a registry version id, e.g. the `version` of
dbt_project/feature_registry.json after a definition change), after that version's sidecar
is deployed stopped (its consumer group must have no member while the bootstrap commits it):

  take_cut        `churnfeat bootstrap --version V --cut-only`: per source partition the offset
                  below which everything is in the lake (the lake manifests), recorded in
                  the version's bootstrap key;
  build_offline   `dbt run --select +int_feature_events`, so the warehouse holds every record
                  below the cut;
  bootstrap       `churnfeat bootstrap --version V`: loads the version's keyspace from the
                  warehouse and commits its group to the cut; resumable, so a retry continues
                  where the last try stopped. Start the version's sidecar after this task.
  parity          `churnfeat parity --version V`: the version's state against offline;
                  unexplained mismatches fail the run (no retry);
  await_approval  a sensor (reschedule mode: it holds no worker slot) on the Airflow Variable
                  `churnfeat_rollout_approval_<V>`: `approve` lets the cutover run, `reject`
                  fails the run; Airflow 2.11 has no human-in-the-loop operator (Airflow 3.1);
  cutover         `churnfeat version cutover V`: readers follow V from then on; the cutover
                  refuses a version whose bootstrap is not complete or whose parity failed.

A failed step is resumed by clearing it (docs/bootstrap.md, "Runbook: bootstrap failed").
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.decorators import dag, task
from airflow.exceptions import AirflowException, AirflowFailException
from airflow.models.param import Param

from churnfeat_airflow.dbt_groups import INT_FEATURE_EVENTS_POOL
from churnfeat_airflow.defaults import dag_defaults
from churnfeat_airflow.parity import (
    PASS,
    UNEXPLAINED,
    failure_lines,
    parity_command,
    read_report,
    report_dir,
    run_parity_job,
)
from churnfeat_airflow.rollout import (
    VERSION_PATTERN,
    approval_given,
    approval_variable,
    bootstrap_command,
    check_version,
    cutover_command,
)
from churnfeat_airflow.settings import load_settings
from churnfeat_airflow.tasks import build_offline_events

log = logging.getLogger(__name__)

#: The CLI's exit code when a step was refused or a check failed: retrying repeats it.
REFUSED = 1


def _run(command: list[str], out: str, data_interval_start: Any) -> tuple[int, list[str]]:
    settings = load_settings()
    run = run_parity_job(settings, command, report_dir(settings, data_interval_start.strftime("%Y-%m-%d")) / out)
    return run.exit_code, run.tail


def _checked(what: str, code: int, tail: list[str]) -> None:
    if code == 0:
        return
    message = f"{what} exited {code}; last output:\n" + "\n".join(tail)
    # refused (active version, running group) or a bad command line: a retry cannot help
    if code == REFUSED or code == 2:
        raise AirflowFailException(message)
    raise AirflowException(message)


@dag(
    dag_id="churnfeat_version_rollout",
    description="Bootstrap a registry version from the warehouse, parity, manual approval, cutover",
    doc_md=__doc__,
    schedule=None,
    **dag_defaults(retries=2, retry_delay=timedelta(minutes=5), execution_timeout=timedelta(hours=6)),
    tags=["churnfeat", "lifecycle"],
    params={
        "version": Param("", type="string", pattern=VERSION_PATTERN, description="The registry version to roll out."),
        "users": Param(500, type="integer", minimum=1, description="Users the parity check samples."),
    },
)
def churnfeat_version_rollout() -> None:
    @task(retries=0)
    def take_cut(data_interval_start: Any = None, params: dict[str, Any] | None = None) -> str:
        version = check_version((params or {}).get("version"))
        code, tail = _run(bootstrap_command(load_settings(), version, cut_only=True), "cut", data_interval_start)
        _checked("bootstrap --cut-only", code, tail)
        return version

    @task(pool=INT_FEATURE_EVENTS_POOL)
    def build_offline() -> None:
        build_offline_events("churnfeat-rollout-dbt-")

    @task
    def bootstrap(version: str, data_interval_start: Any = None) -> str:
        code, tail = _run(bootstrap_command(load_settings(), version, cut_only=False), "bootstrap", data_interval_start)
        _checked("bootstrap", code, tail)
        return version

    @task
    def parity(
        version: str,
        data_interval_start: Any = None,
        data_interval_end: Any = None,
        params: dict[str, Any] | None = None,
    ) -> str:
        settings = load_settings()
        out_dir = report_dir(settings, data_interval_start.strftime("%Y-%m-%d")) / "parity"
        command = parity_command(
            settings,
            as_of_ms=int(data_interval_end.timestamp() * 1000),
            out_dir=out_dir,
            users=int((params or {}).get("users", 500)),
            threshold=0,
        )
        run = run_parity_job(settings, [*command, "--version", version], out_dir)
        report = read_report(run)
        if run.exit_code == PASS and report is not None:
            return version
        if run.exit_code == UNEXPLAINED and report is not None:
            lines = failure_lines(report)
            for line in lines:
                log.error("%s", line)
            raise AirflowFailException(lines[0])
        raise AirflowException(
            f"parity --version {version} exited {run.exit_code}; last output:\n" + "\n".join(run.tail)
        )

    @task.sensor(poke_interval=300, timeout=7 * 24 * 3600, mode="reschedule", retries=0)
    def await_approval(version: str) -> bool:
        from airflow.models import Variable

        return approval_given(Variable.get(approval_variable(version), default_var=None), version)

    @task(retries=1)
    def cutover(version: str, data_interval_start: Any = None) -> str:
        code, tail = _run(cutover_command(version), "cutover", data_interval_start)
        _checked(f"version cutover {version}", code, tail)
        return version

    version = take_cut()
    offline = build_offline()
    version >> offline
    loaded = bootstrap(version)
    offline >> loaded
    cutover(await_approval(parity(loaded)))


churnfeat_version_rollout()
