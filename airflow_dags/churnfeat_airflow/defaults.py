"""What every churnfeat DAG shares: owner, start date, run limits, and how a checkout command is started.

Each DAG passes `dag_defaults(...)` to `@dag`/`DAG` with its own retries, retry delay and task
timeout, so the owner, the start date, `catchup=False` and `max_active_runs=1` are written
once. Pure values and functions: nothing here does I/O at import time.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

#: The owner of every churnfeat task.
OWNER = "churnfeat-data-eng"
#: The start date of every churnfeat DAG (none catches up, so it only anchors the first interval).
START_DATE = datetime(2025, 1, 1, tzinfo=UTC)
#: How the churnfeat CLI is started from the repo root (env CHURNFEAT_CLI_COMMAND).
DEFAULT_CLI = "node dist/cli/churnfeat.js"


def default_args(*, retries: int, retry_delay: timedelta, execution_timeout: timedelta) -> dict[str, Any]:
    """The `default_args` of a churnfeat DAG: every task gets the owner, retries with a delay and a timeout."""
    return {
        "owner": OWNER,
        "retries": retries,
        "retry_delay": retry_delay,
        "execution_timeout": execution_timeout,
    }


def dag_defaults(*, retries: int, retry_delay: timedelta, execution_timeout: timedelta) -> dict[str, Any]:
    """The DAG arguments every churnfeat DAG has: start date, no catch-up, one run at a time, `default_args`."""
    return {
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": default_args(retries=retries, retry_delay=retry_delay, execution_timeout=execution_timeout),
    }


def command_prefix(variable: str, default: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """A command's argv prefix: the shell words of env `variable`, or of `default` when it is unset or empty."""
    env = os.environ if environ is None else environ
    return shlex.split(env.get(variable) or default)
