"""The version rollout's commands and its manual approval (pure functions, plus one Variable read at run time).

The rollout of a registry version (docs/bootstrap.md): take the cut, build the warehouse,
bootstrap the version's keyspace, check it with the parity job, wait for a person to
approve, cut over. Each step is a `churnfeat` command run from the repo root; the exit codes
are the CLI's (0 ok, 1 a check failed or the step was refused, 2 bad command line).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from airflow.exceptions import AirflowFailException

from churnfeat_airflow.defaults import DEFAULT_CLI, command_prefix
from churnfeat_airflow.settings import Settings

#: A registry version id, as `churnfeat bootstrap --version` takes it.
VERSION_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
#: What a person sets the approval Variable to.
APPROVE, REJECT = "approve", "reject"


def cli(environ: Mapping[str, str] | None = None) -> list[str]:
    """The churnfeat CLI's argv prefix (env CHURNFEAT_CLI_COMMAND, default DEFAULT_CLI)."""
    return command_prefix("CHURNFEAT_CLI_COMMAND", DEFAULT_CLI, environ)


def check_version(version: object) -> str:
    """The `version` param, or a failure (no retry) that says what is wrong with it."""
    if not isinstance(version, str) or not re.match(VERSION_PATTERN, version):
        raise AirflowFailException(
            f"param version must match {VERSION_PATTERN} (a registry version id), got {version!r}"
        )
    return version


def bootstrap_command(
    settings: Settings, version: str, *, cut_only: bool, environ: Mapping[str, str] | None = None
) -> list[str]:
    """`churnfeat bootstrap`: --cut-only records the cut before the warehouse build; without it, loads (resuming)."""
    command = [*cli(environ), "bootstrap", "--version", version, "--lake", settings.lake_uri, "--no-progress"]
    if settings.dbt_target == "duckdb":
        command += ["--duckdb-path", str(settings.duckdb_path)]
    if cut_only:
        command.append("--cut-only")
    return command


def cutover_command(version: str, environ: Mapping[str, str] | None = None) -> list[str]:
    return [*cli(environ), "version", "cutover", version]


def approval_variable(version: str) -> str:
    """The Airflow Variable a person sets to `approve` (or `reject`) to let the cutover of `version` run."""
    return f"churnfeat_rollout_approval_{version}"


def approval_given(value: str | None, version: str) -> bool:
    """True once approved; False while nobody decided; a rejection fails the run (no retry)."""
    decision = (value or "").strip().lower()
    if decision == APPROVE:
        return True
    if decision == REJECT:
        raise AirflowFailException(
            f"the cutover of {version} was rejected (Variable {approval_variable(version)} = {REJECT})"
        )
    return False
