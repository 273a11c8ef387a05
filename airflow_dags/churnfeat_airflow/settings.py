"""Where the churnfeat checkout, its dbt virtualenv, the lake and the reports are.

Everything is derived from environment variables and path arithmetic only, so the DAG
files can call `load_settings()` while the scheduler parses them (no file, network or
metadata-database access).

The repo root, in order:
  1. env CHURNFEAT_HOME;
  2. the Airflow Variable `churnfeat_home` defined through the environment
     (AIRFLOW_VAR_CHURNFEAT_HOME), which Airflow resolves without a database query;
  3. the folder above airflow_dags/ (the DAGs run straight from a checkout).
A Variable stored only in the metadata database is deliberately not read: the hourly DAG
needs the paths while it is parsed, and parse-time database queries are what Airflow's
best practices ask us to avoid.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: The repo root when nothing says otherwise: this file is airflow_dags/churnfeat_airflow/settings.py.
DEFAULT_HOME = Path(os.path.abspath(__file__)).parents[2]
#: Name of the Airflow Variable that may hold the repo root (set it as AIRFLOW_VAR_CHURNFEAT_HOME).
HOME_VARIABLE = "churnfeat_home"


@dataclass(frozen=True)
class Settings:
    """Absolute locations and the dbt target every churnfeat task uses."""

    home: Path
    """Repo root (the checkout holding dbt_project/, parity/, .venv/)."""
    dbt_project_dir: Path
    """dbt_project/."""
    dbt_profiles_dir: Path
    """Folder of profiles.yml (env CHURNFEAT_DBT_PROFILES_DIR; default dbt_project/)."""
    dbt_executable: Path
    """dbt of its own virtualenv (env CHURNFEAT_DBT_EXECUTABLE; default <home>/.venv/dbt/bin/dbt)."""
    dbt_manifest: Path
    """Manifest built ahead by `dbt parse` (env CHURNFEAT_DBT_MANIFEST; default dbt_project/target/manifest.json)."""
    dbt_target: str
    """profiles.yml output (env CHURNFEAT_DBT_TARGET; default duckdb, snowflake in production)."""
    lake_root: Path
    """Root of the event lake (env CHURNFEAT_LAKE_ROOT; default <home>/.cache/lake)."""
    duckdb_path: Path
    """Local warehouse file (env CHURNFEAT_DUCKDB_PATH; default <home>/.cache/warehouse/churnfeat.duckdb)."""
    lake_uri: str
    """The lake as the parity job reads its manifests: a folder or s3://bucket/prefix (env CHURNFEAT_LAKE_URI; default lake_root)."""
    reports_dir: Path
    """Where reports are written (env CHURNFEAT_REPORTS_DIR; default <home>/reports)."""
    parity_command: str
    """How the parity job is started, from the repo root (env CHURNFEAT_PARITY_COMMAND; default `node dist/cli/churnfeat.js parity`)."""


def _absolute(value: str | os.PathLike[str], base: Path) -> Path:
    path = Path(value)
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Reads the settings from `environ` (default: the process environment)."""
    env = os.environ if environ is None else environ
    cwd = Path(os.getcwd())
    home = _absolute(env.get("CHURNFEAT_HOME") or env.get("AIRFLOW_VAR_CHURNFEAT_HOME") or DEFAULT_HOME, cwd)

    def path(name: str, default: Path) -> Path:
        value = env.get(name)
        return _absolute(value, home) if value else default

    dbt_project_dir = home / "dbt_project"
    lake_root = path("CHURNFEAT_LAKE_ROOT", home / ".cache" / "lake")
    return Settings(
        home=home,
        dbt_project_dir=dbt_project_dir,
        dbt_profiles_dir=path("CHURNFEAT_DBT_PROFILES_DIR", dbt_project_dir),
        dbt_executable=path("CHURNFEAT_DBT_EXECUTABLE", home / ".venv" / "dbt" / "bin" / "dbt"),
        dbt_manifest=path("CHURNFEAT_DBT_MANIFEST", dbt_project_dir / "target" / "manifest.json"),
        dbt_target=env.get("CHURNFEAT_DBT_TARGET") or "duckdb",
        lake_root=lake_root,
        duckdb_path=path("CHURNFEAT_DUCKDB_PATH", home / ".cache" / "warehouse" / "churnfeat.duckdb"),
        lake_uri=env.get("CHURNFEAT_LAKE_URI") or str(lake_root),
        reports_dir=path("CHURNFEAT_REPORTS_DIR", home / "reports"),
        parity_command=env.get("CHURNFEAT_PARITY_COMMAND") or "node dist/cli/churnfeat.js parity",
    )
