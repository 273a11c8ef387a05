"""churnfeat_deletion_daily: finish every GDPR/CCPA erasure request in every store, daily.

docs/deletion.md. Three tasks, commands of the checkout:
  compact `churnfeat lake-compact --day <data_interval_start>`: rewrites the closed day's
          hourly events objects into user-hash buckets (idempotent, resumable; it drops the
          rows of erased users), so the erasure that follows rewrites one object per user and
          day; it runs first, never at the same time as the lake erasure;
  run     `churnfeat delete run --stores online,lake,warehouse`: drains the deletion topic into
          the registry, re-asserts the online tombstones, rewrites the lake objects that hold
          the open requests' users, deletes them from every warehouse table
          (dbt run-operation churnfeat_delete_users) and marks each store done only when its
          verification scan finds nothing;
  verify  `churnfeat delete verify`: scans every store again for every request it is done
          for (Redis SCAN, the lake objects the user index lists, every warehouse table).

It fails loudly: a store that could not be erased fails `run` (retried: a store may have been
away), and any leftover found by `verify` fails the DAG without retrying, with the counts per
store in the log: a leftover is a finding, not a transient error. The alert
ChurnfeatDeletionRequestOverdue pages at 48 h if requests stay open anyway.

The worker's environment carries the stack's settings (CHURNFEAT_REDIS_URL,
CHURNFEAT_KAFKA_BROKERS, CHURNFEAT_LAKE_URI, CHURNFEAT_DUCKDB_PATH or the Snowflake ones, ...)
as for the other DAGs. The run is not partitioned by the data interval: erasure works on the
registry's open requests, whatever day they came, and is idempotent.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta

from airflow.decorators import dag, task
from airflow.exceptions import AirflowException, AirflowFailException

from churnfeat_airflow.defaults import DEFAULT_CLI, command_prefix, dag_defaults
from churnfeat_airflow.settings import load_settings

log = logging.getLogger(__name__)

#: How the erasure command is started from the repo root (env CHURNFEAT_DELETE_COMMAND).
DEFAULT_DELETE_COMMAND = f"{DEFAULT_CLI} delete"
#: How the lake compaction is started from the repo root (env CHURNFEAT_LAKE_COMPACT_COMMAND).
DEFAULT_COMPACT_COMMAND = f"{DEFAULT_CLI} lake-compact"


def delete_command(subcommand: str, *args: str) -> list[str]:
    """The `churnfeat delete <subcommand>` argv (the command prefix from the environment)."""
    return [*command_prefix("CHURNFEAT_DELETE_COMMAND", DEFAULT_DELETE_COMMAND), subcommand, *args]


def compact_command(day: str) -> list[str]:
    """The `churnfeat lake-compact --day <day>` argv (the command prefix from the environment)."""
    return [*command_prefix("CHURNFEAT_LAKE_COMPACT_COMMAND", DEFAULT_COMPACT_COMMAND), "--day", day]


def run_delete(subcommand: str, *args: str) -> tuple[int, str]:
    """Runs `churnfeat delete <subcommand>` from the repo root; returns its exit code and output."""
    return run_command(delete_command(subcommand, *args))


def run_command(argv: list[str]) -> tuple[int, str]:
    """Runs the command from the repo root; returns its exit code and its output (stdout + stderr)."""
    import subprocess

    settings = load_settings()
    env = {
        **os.environ,
        "CHURNFEAT_LAKE_ROOT": str(settings.lake_root),
        "CHURNFEAT_DUCKDB_PATH": str(settings.duckdb_path),
    }
    env.setdefault("CHURNFEAT_LAKE_URI", settings.lake_uri)
    done = subprocess.run(argv, cwd=settings.home, env=env, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout + done.stderr


def _raise_on_failure(what: str, code: int, output: str, failed: str) -> None:
    """Exit 2 (bad configuration) fails the task without a retry; any other failure is retried."""
    if code == 2:
        raise AirflowFailException(f"{what}: bad configuration:\n{output[-4000:]}")
    if code != 0:
        raise AirflowException(f"{what} {failed} (exit {code}):\n{output[-4000:]}")


@dag(
    dag_id="churnfeat_deletion_daily",
    description="GDPR/CCPA erasure of the open requests in Redis, the lake and the warehouse, then a verification scan",
    doc_md=__doc__,
    schedule="@daily",
    **dag_defaults(retries=2, retry_delay=timedelta(minutes=30), execution_timeout=timedelta(hours=6)),
    tags=["churnfeat", "gdpr"],
)
def churnfeat_deletion_daily() -> None:
    @task
    def compact(data_interval_start: datetime | None = None) -> None:
        """Compacts the run's closed day of the lake into user-hash buckets; fails (and retries) on error."""
        day = (data_interval_start or datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
        code, output = run_command(compact_command(day))
        log.info("%s", output)
        _raise_on_failure(f"churnfeat lake-compact --day {day}", code, output, "failed")

    @task
    def run() -> None:
        """Erases the open requests store by store; fails (and retries) when a store could not be done."""
        code, output = run_delete("run", "--stores", "online,lake,warehouse")
        log.info("%s", output)
        _raise_on_failure("churnfeat delete run", code, output, "left stores open")

    @task
    def verify() -> None:
        """Scans every store for every erased user; any leftover fails the DAG without a retry."""
        code, output = run_delete("verify", "--stores", "online,lake,warehouse")
        if code != 0:
            for line in output.splitlines():
                log.error("%s", line)
            raise AirflowFailException(f"LEFTOVERS of erased users found (exit {code}):\n{output[-4000:]}")
        log.info("%s", output)

    compact() >> run() >> verify()


churnfeat_deletion_daily()
