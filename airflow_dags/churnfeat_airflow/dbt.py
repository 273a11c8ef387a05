"""Running dbt from its own virtualenv, outside Airflow's, for the tasks that call it directly.

The hourly DAG runs dbt through astronomer-cosmos; the backfill calls `run_dbt` here. Both
use the dbt executable of .venv/dbt, so dbt's dependencies never meet Airflow's.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churnfeat_airflow.settings import Settings

log = logging.getLogger(__name__)

#: Variables a dbt process may inherit from the worker. Everything else is left out on
#: purpose: dbt needs no Kafka or Redis address, and an allowlist keeps it that way.
PASSTHROUGH_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
)
#: Prefixes passed through as well: the Snowflake target of dbt_project/profiles.yml reads SNOWFLAKE_*.
PASSTHROUGH_PREFIXES = ("SNOWFLAKE_",)

FEATURE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class DbtError(RuntimeError):
    """dbt exited non-zero; the message carries the command and the end of its output."""


@dataclass(frozen=True)
class DbtResult:
    """What one dbt invocation printed (JSON log events when run with json_log=True)."""

    command: list[str]
    lines: list[str]

    def events(self) -> Iterable[dict[str, Any]]:
        for line in self.lines:
            if line.startswith("{"):
                try:
                    yield json.loads(line)
                except ValueError:
                    continue


def dbt_env(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a dbt process: an allowlist of the worker's, plus churnfeat's paths."""
    source = os.environ if environ is None else environ
    env = {key: source[key] for key in PASSTHROUGH_ENV if key in source}
    env.update({key: value for key, value in source.items() if key.startswith(PASSTHROUGH_PREFIXES)})
    env.update(dbt_path_env(settings))
    return env


def dbt_path_env(settings: Settings) -> dict[str, str]:
    """The non-secret variables dbt_project/profiles.yml and dbt_project.yml read."""
    return {
        "CHURNFEAT_DBT_TARGET": settings.dbt_target,
        "CHURNFEAT_DUCKDB_PATH": str(settings.duckdb_path),
        "CHURNFEAT_LAKE_ROOT": str(settings.lake_root),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
    }


def base_vars(settings: Settings) -> dict[str, str]:
    """dbt vars every run passes: the lake root, absolute (dbt's default is relative to the project dir)."""
    return {"lake_root": str(settings.lake_root)}


def prepare_warehouse(settings: Settings) -> None:
    """Creates the local DuckDB file's folder (dbt-duckdb does not); nothing to do for Snowflake."""
    if settings.dbt_target == "duckdb":
        settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)


def require_dbt(settings: Settings) -> None:
    if not os.access(settings.dbt_executable, os.X_OK):
        raise DbtError(
            f"dbt executable {settings.dbt_executable} not found: build the dbt virtualenv "
            "(scripts/stack/install.sh) or set CHURNFEAT_DBT_EXECUTABLE"
        )


def run_dbt(
    settings: Settings,
    args: Sequence[str],
    *,
    workdir: Path,
    dbt_vars: Mapping[str, Any] | None = None,
    json_log: bool = False,
    environ: Mapping[str, str] | None = None,
    logger: logging.Logger = log,
) -> DbtResult:
    """Runs `dbt ARGS` against dbt_project/ and streams its output to the task log.

    target/ and logs/ go to `workdir` (one per task try), so a run never rewrites the
    manifest the scheduler parses in dbt_project/target/. The task's execution_timeout
    bounds it: the timeout (or any other interruption) kills dbt too.
    """
    require_dbt(settings)
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        str(settings.dbt_executable),
        *args,
        "--project-dir",
        str(settings.dbt_project_dir),
        "--profiles-dir",
        str(settings.dbt_profiles_dir),
        "--target",
        settings.dbt_target,
        "--target-path",
        str(workdir / "target"),
        "--log-path",
        str(workdir / "logs"),
        "--vars",
        json.dumps({**base_vars(settings), **(dbt_vars or {})}, sort_keys=True),
    ]
    if json_log:
        command += ["--log-format", "json"]
    logger.info("running: %s", " ".join(command))
    lines: list[str] = []
    tail: deque[str] = deque(maxlen=60)

    def take(line: str) -> None:
        lines.append(line)
        shown = _message_of(line) if json_log else line
        if shown:
            tail.append(shown)
            logger.info("dbt | %s", shown)

    code = stream_process(command, cwd=settings.dbt_project_dir, env=dbt_env(settings, environ), on_line=take)
    if code != 0:
        raise DbtError(f"dbt {' '.join(args)} failed (exit {code}); last lines:\n" + "\n".join(tail))
    return DbtResult(command=command, lines=lines)


def stream_process(command: Sequence[str], *, cwd: Path, env: Mapping[str, str], on_line: Callable[[str], None]) -> int:
    """Runs `command`, hands each line of its output (stdout and stderr, newline dropped) to `on_line`, returns its exit code.

    Any interruption (the task's execution_timeout, a kill of the task) kills the process too.
    """
    with subprocess.Popen(
        list(command), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                on_line(raw.rstrip("\n"))
            return process.wait()
        except BaseException:
            process.kill()
            raise


def _message_of(line: str) -> str:
    if not line.startswith("{"):
        return line
    try:
        return str(json.loads(line).get("info", {}).get("msg", ""))
    except ValueError:
        return line


def show_rows(result: DbtResult) -> list[dict[str, Any]]:
    """Rows printed by `dbt show --output json --log-format json`."""
    for event in result.events():
        if event.get("info", {}).get("name") == "ShowNode":
            return json.loads(event["data"]["preview"])
    raise DbtError("dbt show printed no rows (no ShowNode event in its JSON log)")


def listed_nodes(result: DbtResult) -> list[dict[str, Any]]:
    """Nodes printed by `dbt ls --output json` (one JSON object per line)."""
    nodes = []
    for event in result.events():
        if "info" in event:
            message = event["info"].get("msg", "")
            if event["info"].get("name") == "ListCmdOut" and message.startswith("{"):
                nodes.append(json.loads(message))
        else:
            nodes.append(event)
    return nodes


def feature_names(manifest: Mapping[str, Any]) -> list[str]:
    """Feature names declared in the dbt project (column `config.meta.feature` blocks), sorted."""
    names = set()
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        for column in node.get("columns", {}).values():
            meta = (column.get("config") or {}).get("meta") or column.get("meta") or {}
            if "feature" in meta:
                names.add(column["name"])
    return sorted(names)


def project_var(settings: Settings, name: str) -> Any:
    """A var's default from dbt_project.yml (at task run time only)."""
    import yaml

    with (settings.dbt_project_dir / "dbt_project.yml").open(encoding="utf-8") as handle:
        project = yaml.safe_load(handle)
    try:
        return project["vars"][name]
    except (KeyError, TypeError):
        raise DbtError(f"dbt_project.yml declares no var {name!r}") from None


def load_manifest(settings: Settings) -> dict[str, Any]:
    """Reads the manifest built ahead (at task run time only)."""
    if not settings.dbt_manifest.is_file():
        raise DbtError(f"dbt manifest {settings.dbt_manifest} missing: run airflow_dags/bin/build-dbt-manifest.sh")
    with settings.dbt_manifest.open(encoding="utf-8") as handle:
        return json.load(handle)
