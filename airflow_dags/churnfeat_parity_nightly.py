"""churnfeat_parity_nightly: prove, every night, that the online features equal dbt's.

For the data interval of the run (one UTC day; as_of = data_interval_end, midnight UTC):
  build_offline  `dbt run --select +int_feature_events` from the dbt virtualenv, so the
                 offline side holds every lake record up to as_of;
  run_parity     the parity job (parity/src/cli.ts): samples users, snapshots their online
                 reads at as_of, recomputes the same features offline from the records the
                 online state had applied, diffs and classifies every mismatch. Reports go
                 to reports/parity/<ds>/report.json and report.html (ds = the day the
                 interval starts); a rerun of the same night overwrites them.

  check_data_quality  `dbt test --select tag:data_quality` at as_of: the day's volume per
                 source x event type against the same weekday of the last four weeks, and
                 the lake's freshness at as_of (thresholds in the staging YAML; docs/data-quality.md).
                 A failure fails the night without a retry (a finding); param
                 `data_quality` false skips it (a rerun of parity alone).

The night fails loudly: when unexplained mismatches exceed the threshold (param, default
0) the task fails without retrying and its log carries the summary, the unexplained count
per feature and the first unexplained mismatches. When the job cannot run at all (online
store or warehouse unreachable) the task fails with the job's output and is retried.

The job reads the online store (Redis) and the sidecar's committed offsets (Kafka): the
worker's environment must carry CHURNFEAT_REDIS_URL, CHURNFEAT_KAFKA_BROKERS and, if not
the defaults, CHURNFEAT_KEY_PREFIX, CHURNFEAT_TOPIC_NAMESPACE, CHURNFEAT_GROUP_ID.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.decorators import dag, task
from airflow.exceptions import AirflowException, AirflowFailException
from airflow.models.param import Param

from churnfeat_airflow.dbt import DbtError, run_dbt
from churnfeat_airflow.dbt_groups import INT_FEATURE_EVENTS_POOL
from churnfeat_airflow.defaults import dag_defaults
from churnfeat_airflow.parity import (
    COULD_NOT_RUN,
    PASS,
    UNEXPLAINED,
    failure_lines,
    parity_command,
    read_report,
    report_dir,
    run_parity_job,
    summary_of,
)
from churnfeat_airflow.settings import load_settings
from churnfeat_airflow.tasks import build_offline_events

log = logging.getLogger(__name__)


@dag(
    dag_id="churnfeat_parity_nightly",
    description="Nightly online/offline parity of the churn features at as_of = data_interval_end",
    doc_md=__doc__,
    schedule="@daily",
    # catchup=False (dag_defaults): a parity run compares against the online store as it is
    # now, so an old night cannot be replayed faithfully and missed nights are not caught up.
    **dag_defaults(retries=2, retry_delay=timedelta(minutes=10), execution_timeout=timedelta(hours=2)),
    tags=["churnfeat", "parity"],
    params={
        "users": Param(500, type="integer", minimum=1, description="Users to sample (stratified by activity)."),
        "data_quality": Param(
            True, type="boolean", description="Run the offline data-quality tests (volume, freshness)."
        ),
        "threshold": Param(
            0, type="integer", minimum=0, description="Unexplained mismatches tolerated before the night fails."
        ),
    },
)
def churnfeat_parity_nightly() -> None:
    @task(pool=INT_FEATURE_EVENTS_POOL)
    def build_offline() -> None:
        """Brings int_feature_events up to date with the lake before the comparison."""
        build_offline_events("churnfeat-parity-dbt-")

    @task
    def run_parity(
        data_interval_start: Any = None, data_interval_end: Any = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Runs the parity job for the interval; fails (no retry) on unexplained mismatches."""
        settings = load_settings()
        params = params or {}
        as_of_ms = int(data_interval_end.timestamp() * 1000)
        # Keyed on the interval, not on the logical date (which a manual run sets to its trigger time).
        out_dir = report_dir(settings, data_interval_start.strftime("%Y-%m-%d"))
        command = parity_command(
            settings,
            as_of_ms=as_of_ms,
            out_dir=out_dir,
            users=int(params.get("users", 500)),
            threshold=int(params.get("threshold", 0)),
        )
        run = run_parity_job(settings, command, out_dir)
        report = read_report(run)
        if run.exit_code == PASS and report is not None:
            summary = summary_of(report)
            log.info(
                "parity PASS at as_of %s: %s mismatches, all explained %s; report %s",
                summary["as_of"],
                summary["mismatches"],
                summary["by_class"],
                summary["report_html"],
            )
            return summary
        if run.exit_code == UNEXPLAINED and report is not None:
            lines = failure_lines(report)
            for line in lines:
                log.error("%s", line)
            # A finding, not a transient error: retrying would only repeat it.
            raise AirflowFailException(lines[0])
        what = "could not run" if run.exit_code == COULD_NOT_RUN else f"exited {run.exit_code}"
        if report is None and run.exit_code in (PASS, UNEXPLAINED):
            what += f" but wrote no readable {run.report_json}"
        raise AirflowException(f"parity job {what}; last output:\n" + "\n".join(run.tail))

    @task(retries=0)
    def check_data_quality(data_interval_end: Any = None, params: dict[str, Any] | None = None) -> str:
        """The data-quality dbt tests at as_of; fails (no retry) when one fails."""
        if not (params or {}).get("data_quality", True):
            return "skipped (param data_quality is false)"
        settings = load_settings()
        with tempfile.TemporaryDirectory(prefix="churnfeat-dq-dbt-") as workdir:
            try:
                run_dbt(
                    settings,
                    ["test", "--select", "tag:data_quality"],
                    workdir=Path(workdir),
                    dbt_vars={"as_of": data_interval_end.isoformat()},
                )
            except DbtError as error:
                raise AirflowFailException(
                    f"data-quality tests failed at as_of {data_interval_end.isoformat()}: {error}"
                ) from None
        return "pass"

    offline = build_offline()
    offline >> run_parity()
    offline >> check_data_quality()


churnfeat_parity_nightly()
