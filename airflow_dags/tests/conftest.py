"""pytest setup for the DAG tests: a private Airflow home, a fresh dbt manifest, fixture lakes.

Run them with `make test-airflow` (it sets the same defaults). Airflow reads its settings
when first imported, so the environment is set here, before any test imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
DAGS_DIR = TESTS_DIR.parent
REPO = DAGS_DIR.parent
AIRFLOW_HOME = Path(os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".cache" / "airflow")))
AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_DIR)
# The DAGs' default home is the folder above airflow_dags/: make that explicit and stable.
os.environ.pop("AIRFLOW_VAR_CHURNFEAT_HOME", None)
os.environ["CHURNFEAT_HOME"] = str(REPO)
# Cosmos keeps its parse cache under the Airflow home, not in /tmp.
os.environ.setdefault("AIRFLOW__COSMOS__CACHE_DIR", str(AIRFLOW_HOME / "cosmos"))
if str(DAGS_DIR) not in sys.path:
    sys.path.insert(0, str(DAGS_DIR))

DBT_PYTHON = REPO / ".venv" / "dbt" / "bin" / "python"
DBT = REPO / ".venv" / "dbt" / "bin" / "dbt"
FIXTURE_LAKE_SCRIPT = REPO / "dbt_project" / "scripts" / "make_fixture_lake.py"


@pytest.fixture(scope="session", autouse=True)
def airflow_db() -> None:
    """Creates (or upgrades) the test metadata database once per session."""
    from airflow.utils import db

    db.initdb(load_connections=False)


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Builds the manifest of the current dbt project with the DAGs' own script."""
    if not DBT.exists():
        pytest.exit(f"{DBT} missing: run scripts/stack/install.sh first", returncode=2)
    manifest = tmp_path_factory.mktemp("dbt-manifest") / "manifest.json"
    subprocess.run(
        [str(DAGS_DIR / "bin" / "build-dbt-manifest.sh")],
        check=True,
        env={**os.environ, "CHURNFEAT_DBT_MANIFEST": str(manifest)},
    )
    previous = os.environ.get("CHURNFEAT_DBT_MANIFEST")
    os.environ["CHURNFEAT_DBT_MANIFEST"] = str(manifest)
    yield manifest
    if previous is None:
        os.environ.pop("CHURNFEAT_DBT_MANIFEST", None)
    else:
        os.environ["CHURNFEAT_DBT_MANIFEST"] = previous


def write_fixture_lake(lake: Path, phase: str = "all") -> None:
    """The dbt project's deterministic fixture lake (dbt_project/scripts/make_fixture_lake.py)."""
    subprocess.run(
        [str(DBT_PYTHON), str(FIXTURE_LAKE_SCRIPT), "--lake", str(lake), "--phase", phase],
        check=True,
        capture_output=True,
        text=True,
    )


@pytest.fixture
def local_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A lake folder, a DuckDB file and a reports folder of the test's own, as the DAGs see them."""
    paths = {
        "lake": tmp_path / "lake",
        "duckdb": tmp_path / "warehouse" / "churnfeat.duckdb",
        "reports": tmp_path / "reports",
    }
    monkeypatch.setenv("CHURNFEAT_LAKE_ROOT", str(paths["lake"]))
    monkeypatch.setenv("CHURNFEAT_DUCKDB_PATH", str(paths["duckdb"]))
    monkeypatch.setenv("CHURNFEAT_REPORTS_DIR", str(paths["reports"]))
    monkeypatch.setenv("CHURNFEAT_DBT_TARGET", "duckdb")
    return paths


def no_retries(dag) -> None:
    """dag.test() waits out retry_delay before a retry; the tests want the first failure."""
    for task in dag.tasks:
        task.retries = 0


def pytest_configure(config: pytest.Config) -> None:
    # Deprecations raised inside Airflow 2.11's own dependencies (Flask, connexion, ...) are
    # not ours to fix; those raised by the DAG code stay visible.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning")
    config.addinivalue_line("filterwarnings", "default::DeprecationWarning:churnfeat.*")
    config.addinivalue_line("filterwarnings", "default::DeprecationWarning:cosmos.converter")
