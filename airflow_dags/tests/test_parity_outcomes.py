"""How run_parity turns the parity job's exit code and report into a task outcome.

A stand-in job (CHURNFEAT_PARITY_COMMAND) plays each outcome, so these need no stack; the
real job runs in test_parity_e2e.py.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from airflow.exceptions import AirflowException, AirflowFailException
from airflow.models import DagBag

from churnfeat_airflow.parity import failure_lines, parity_command
from churnfeat_airflow.settings import load_settings
from conftest import DAGS_DIR

START = datetime(2025, 3, 9, tzinfo=UTC)
END = datetime(2025, 3, 10, tzinfo=UTC)

REPORT = {
    "status": "fail",
    "asOf": "2025-03-10T00:00:00.000Z",
    "threshold": 0,
    "sample": {"sampled": 40},
    "registry": {"same": True},
    "totals": {
        "mismatches": 3,
        "unexplained": 2,
        "byClass": {"unexplained": 2, "arrived_after_snapshot": 1, "too_late_policy": 0},
    },
    "features": [
        {"name": "errors_last_1h", "compared": 40, "mismatchRate": 0.05, "byClass": {"unexplained": 2}},
        {"name": "errors_last_10m", "compared": 40, "mismatchRate": 0.025, "byClass": {"unexplained": 0}},
    ],
    "mismatches": [
        {
            "userId": "u1",
            "feature": "errors_last_1h",
            "field": "value",
            "online": {"value": 3},
            "offline": {"value": 2},
            "class": "unexplained",
            "explanation": "no policy difference reproduces online 3",
        },
        {
            "userId": "u2",
            "feature": "errors_last_1h",
            "field": "value",
            "online": {"value": 1},
            "offline": {"value": 0},
            "class": "unexplained",
            "explanation": "no policy difference reproduces online 1",
        },
        {
            "userId": "u3",
            "feature": "errors_last_1h",
            "field": "value",
            "online": {"value": 5},
            "offline": {"value": 4},
            "class": "arrived_after_snapshot",
            "explanation": "later",
        },
    ],
    "reports": {"json": "/r/report.json", "html": "/r/report.html"},
}


def fake_job(tmp_path: Path, exit_code: int, report: dict | None) -> str:
    """A command that writes `report` into --out and exits with `exit_code`."""
    script = tmp_path / "fake_parity.py"
    script.write_text(
        "import json, pathlib, sys\n"
        "out = pathlib.Path(sys.argv[sys.argv.index('--out') + 1])\n"
        f"report = {json.dumps(report)!r}\n"
        "if report != 'null': out.joinpath('report.json').write_text(report)\n"
        "print('fake parity ran with', ' '.join(sys.argv[1:]))\n"
        f"sys.exit({exit_code})\n"
    )
    return f"{sys.executable} {script}"


@pytest.fixture
def run_parity(local_warehouse: dict[str, Path]):
    bag = DagBag(dag_folder=str(DAGS_DIR / "churnfeat_parity_nightly.py"), include_examples=False)
    task = bag.get_dag("churnfeat_parity_nightly").get_task("run_parity")
    return lambda: task.python_callable(
        data_interval_start=START, data_interval_end=END, params={"users": 40, "threshold": 0}
    )


def test_unexplained_mismatches_fail_without_retry_and_log_the_summary(
    run_parity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CHURNFEAT_PARITY_COMMAND", fake_job(tmp_path, 1, REPORT))
    with pytest.raises(
        AirflowFailException,
        match=r"PARITY FAILED at as_of 2025-03-10T00:00:00.000Z: 2 unexplained mismatches \(threshold 0\)",
    ):
        run_parity()
    assert "errors_last_1h               2 unexplained / 40 users (mismatch rate 5.00%)" in caplog.text
    assert "user u1 errors_last_1h (value): online 3 offline 2" in caplog.text
    assert "user u3" not in caplog.text


def test_a_job_that_cannot_run_fails_with_its_output_and_may_be_retried(
    run_parity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHURNFEAT_PARITY_COMMAND", fake_job(tmp_path, 2, None))
    with pytest.raises(
        AirflowException, match="parity job could not run; last output:\nfake parity ran with"
    ) as raised:
        run_parity()
    assert not isinstance(raised.value, AirflowFailException)


def test_a_pass_without_a_report_is_not_a_pass(run_parity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNFEAT_PARITY_COMMAND", fake_job(tmp_path, 0, None))
    with pytest.raises(AirflowException, match="exited 0 but wrote no readable"):
        run_parity()


def test_the_job_gets_the_interval_end_as_as_of_and_a_folder_per_interval(
    run_parity, local_warehouse: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passed = {
        **REPORT,
        "status": "pass",
        "totals": {"mismatches": 0, "unexplained": 0, "byClass": {}},
        "mismatches": [],
    }
    monkeypatch.setenv("CHURNFEAT_PARITY_COMMAND", fake_job(tmp_path, 0, passed))
    summary = run_parity()
    assert summary["status"] == "pass" and summary["unexplained"] == 0
    assert (local_warehouse["reports"] / "parity" / "2025-03-09" / "report.json").exists()
    command = parity_command(
        load_settings(), as_of_ms=int(END.timestamp() * 1000), out_dir=Path("/r"), users=40, threshold=0
    )
    assert command[command.index("--as-of") + 1] == "1741564800000"
    assert command[command.index("--duckdb-path") + 1] == str(local_warehouse["duckdb"])
    assert command[command.index("--dbt-project-dir") + 1] == str(load_settings().dbt_project_dir)


def test_the_failure_summary_names_a_registry_out_of_step() -> None:
    lines = failure_lines({**REPORT, "registry": {"same": False}})
    assert any("different feature registry" in line for line in lines)
    assert lines[-1] == "report: /r/report.html (JSON: /r/report.json)"
