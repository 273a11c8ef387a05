"""Running the parity job (parity/src/cli.ts) for one data interval and reading its verdict.

The CLI's exit codes (parity/src/cli.ts): 0 pass, 1 unexplained mismatches above the
threshold, 2 the job could not run (no online store, no warehouse...). It writes
report.json and report.html into --out.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churnfeat_airflow.dbt import dbt_path_env, stream_process
from churnfeat_airflow.settings import Settings

log = logging.getLogger(__name__)

PASS, UNEXPLAINED, COULD_NOT_RUN = 0, 1, 2
#: Unexplained mismatches printed in the task log when the run fails (all are in report.json).
LISTED_IN_LOG = 20


@dataclass(frozen=True)
class ParityRun:
    exit_code: int
    command: list[str]
    out_dir: Path
    tail: list[str]

    @property
    def report_json(self) -> Path:
        return self.out_dir / "report.json"

    @property
    def report_html(self) -> Path:
        return self.out_dir / "report.html"


def report_dir(settings: Settings, ds: str) -> Path:
    """reports/parity/<ds>/: one folder per data interval; a rerun of the night overwrites it."""
    return settings.reports_dir / "parity" / ds


def parity_command(settings: Settings, *, as_of_ms: int, out_dir: Path, users: int, threshold: int) -> list[str]:
    command = shlex.split(settings.parity_command)
    command += [
        "--as-of",
        str(as_of_ms),
        "--out",
        str(out_dir),
        "--users",
        str(users),
        "--threshold",
        str(threshold),
        "--lake",
        settings.lake_uri,
        # the deployed checkout's dbt project: the version `parity --version V` records must be its registry
        "--dbt-project-dir",
        str(settings.dbt_project_dir),
    ]
    if settings.dbt_target == "duckdb":
        command += [
            "--warehouse",
            "duckdb",
            "--duckdb-path",
            str(settings.duckdb_path),
            "--lake-root",
            str(settings.lake_root),
        ]
    else:
        command += ["--warehouse", "snowflake", "--dbt-target", settings.dbt_target]
    return command


def parity_env(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The worker's environment (the job needs the online store's address, Kafka, SNOWFLAKE_*), plus churnfeat's paths."""
    env = dict(os.environ if environ is None else environ)
    env.update(dbt_path_env(settings))
    env["CHURNFEAT_DBT_BIN"] = str(settings.dbt_executable)
    return env


def run_parity_job(settings: Settings, command: list[str], out_dir: Path, *, logger: logging.Logger = log) -> ParityRun:
    """Runs the job from the repo root, streaming its output to the task log."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # A report left by an earlier try of the same night must not pass for this one's.
    for stale in ("report.json", "report.html"):
        (out_dir / stale).unlink(missing_ok=True)
    logger.info("running: %s", " ".join(command))
    tail: deque[str] = deque(maxlen=40)

    def take(line: str) -> None:
        tail.append(line)
        logger.info("parity | %s", line)

    code = stream_process(command, cwd=settings.home, env=parity_env(settings), on_line=take)
    return ParityRun(exit_code=code, command=command, out_dir=out_dir, tail=list(tail))


def read_report(run: ParityRun) -> dict[str, Any] | None:
    try:
        with run.report_json.open(encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def summary_of(report: Mapping[str, Any]) -> dict[str, Any]:
    """The few numbers worth an XCom and a log line."""
    totals = report.get("totals", {})
    return {
        "status": report.get("status"),
        "as_of": report.get("asOf"),
        "sampled": report.get("sample", {}).get("sampled"),
        "features": len(report.get("features", [])),
        "mismatches": totals.get("mismatches"),
        "unexplained": totals.get("unexplained"),
        "by_class": {name: count for name, count in totals.get("byClass", {}).items() if count},
        "threshold": report.get("threshold"),
        "registry_same": report.get("registry", {}).get("same"),
        "report_json": report.get("reports", {}).get("json"),
        "report_html": report.get("reports", {}).get("html"),
    }


def failure_lines(report: Mapping[str, Any]) -> list[str]:
    """What an operator needs in the task log of a failed night."""
    summary = summary_of(report)
    lines = [
        f"PARITY FAILED at as_of {summary['as_of']}: {summary['unexplained']} unexplained mismatches "
        f"(threshold {summary['threshold']}), {summary['mismatches']} mismatches in all over "
        f"{summary['sampled']} users x {summary['features']} features; by class {summary['by_class']}",
    ]
    if summary["registry_same"] is False:
        lines.append(
            "the online store runs a different feature registry than dbt_project (registry versions differ): a deploy is out of step"
        )
    for feature in report.get("features", []):
        unexplained = feature.get("byClass", {}).get("unexplained", 0)
        if unexplained:
            rate = feature.get("mismatchRate", 0)
            lines.append(
                f"  {feature['name']:<28} {unexplained} unexplained / {feature.get('compared')} users (mismatch rate {rate:.2%})"
            )
    listed = [m for m in report.get("mismatches", []) if m.get("class") == "unexplained"][:LISTED_IN_LOG]
    for m in listed:
        lines.append(
            f"  user {m['userId']} {m['feature']} ({m.get('field')}): online {m['online'].get('value')} "
            f"offline {m['offline'].get('value')} - {m.get('explanation', '')}"
        )
    lines.append(f"report: {summary['report_html']} (JSON: {summary['report_json']})")
    return lines
