"""churnfeat_parity_nightly end to end with dag.test(), against the real local stack.

The fixture is the parity integration test's own pipeline (fixtures/parity-stack.ts): a
generated day in Kafka, online stores in Redis fed by the sidecar, the lake, DuckDB. The
real parity job (parity/src/cli.ts) runs inside the DAG: a healthy store passes; a store
whose watch_time_last_24h operator is one tile off fails the night, with the summary in
the task log. Needs Kafka and Redis (scripts/stack/start.sh redis kafka; `make test`
starts them).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pytest
from airflow.models import DagBag
from airflow.utils.state import DagRunState, TaskInstanceState

from conftest import DAGS_DIR, REPO, no_retries

DAY_MS = 86_400_000


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def parity_stack() -> Iterator[dict]:
    redis = urlparse(os.environ.get("CHURNFEAT_REDIS_URL", "redis://127.0.0.1:16379"))
    broker = os.environ.get("CHURNFEAT_KAFKA_BROKERS", "127.0.0.1:19092").split(",")[0]
    kafka_host, kafka_port = broker.rsplit(":", 1)
    missing = [
        name
        for name, up in (
            ("redis", _port_open(redis.hostname or "127.0.0.1", redis.port or 6379)),
            ("kafka", _port_open(kafka_host, int(kafka_port))),
        )
        if not up
    ]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not running: start them with scripts/stack/start.sh redis kafka (make test does)"
        )
    process = subprocess.Popen(
        ["node", "--import", "tsx", str(DAGS_DIR / "tests" / "fixtures" / "parity-stack.ts")],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    seen: list[str] = []
    descriptor = None
    for line in process.stdout:
        if line.startswith("PARITY_STACK "):
            descriptor = json.loads(line[len("PARITY_STACK ") :])
            break
        seen.append(line)
    if descriptor is None:
        process.wait(timeout=60)
        pytest.fail("the parity stack fixture did not start:\n" + "".join(seen[-60:]))
    # Keep draining its output: a full pipe would block the sidecars' logging.
    later: deque[str] = deque(maxlen=200)
    drain = threading.Thread(target=lambda: later.extend(process.stdout), daemon=True)
    drain.start()
    try:
        yield descriptor
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
        drain.join(timeout=10)


@pytest.fixture
def parity_dag():
    bag = DagBag(dag_folder=str(DAGS_DIR / "churnfeat_parity_nightly.py"), include_examples=False)
    assert bag.import_errors == {}
    dag = bag.get_dag("churnfeat_parity_nightly")
    no_retries(dag)
    return dag


def use_online_store(monkeypatch: pytest.MonkeyPatch, stack: dict, name: str, reports: Path) -> None:
    monkeypatch.setenv("CHURNFEAT_REDIS_URL", stack["redisUrl"])
    monkeypatch.setenv("CHURNFEAT_KAFKA_BROKERS", stack["brokers"])
    monkeypatch.setenv("CHURNFEAT_KEY_PREFIX", stack["stacks"][name]["keyPrefix"])
    monkeypatch.setenv("CHURNFEAT_GROUP_ID", stack["stacks"][name]["groupId"])
    monkeypatch.setenv("CHURNFEAT_TOPIC_NAMESPACE", stack["topicNamespace"])
    monkeypatch.setenv("CHURNFEAT_LAKE_ROOT", stack["lakeRoot"])
    monkeypatch.setenv("CHURNFEAT_DUCKDB_PATH", stack["duckdbPath"])
    monkeypatch.setenv("CHURNFEAT_REPORTS_DIR", str(reports))
    monkeypatch.setenv("CHURNFEAT_DBT_TARGET", "duckdb")


def night_after(stack: dict) -> datetime:
    """The first midnight (UTC) after the newest ingest: the end of the night to check."""
    return datetime.fromtimestamp((stack["maxIngestMs"] // DAY_MS + 1) * DAY_MS / 1000, tz=UTC)


def test_a_healthy_night_passes_and_stores_its_reports_under_the_interval(
    parity_dag, parity_stack: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_online_store(monkeypatch, parity_stack, "healthy", tmp_path / "reports")
    as_of = night_after(parity_stack)
    # The parity fixture lake is hours of data: the day-level data-quality checks have their own test.
    run = parity_dag.test(execution_date=as_of, run_conf={"users": 60, "data_quality": False})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == DagRunState.SUCCESS, states
    assert run.data_interval_end == as_of
    day = run.data_interval_start.strftime("%Y-%m-%d")
    folder = tmp_path / "reports" / "parity" / day
    report = json.loads((folder / "report.json").read_text())
    assert (folder / "report.html").stat().st_size > 0
    assert report["status"] == "pass"
    assert report["asOfMs"] == int(as_of.timestamp() * 1000)
    assert report["sample"]["sampled"] == 60
    summary = run.get_task_instance("run_parity").xcom_pull(task_ids="run_parity")
    assert summary["status"] == "pass" and summary["unexplained"] == 0
    assert summary["report_json"] == str(folder / "report.json")


def test_unexplained_mismatches_fail_the_night_loudly_without_a_retry(
    parity_dag, parity_stack: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    use_online_store(monkeypatch, parity_stack, "broken", tmp_path / "reports")
    parity_dag.get_task("run_parity").retries = 2  # the DAG's own setting: a finding is not retried anyway
    as_of = night_after(parity_stack)
    with caplog.at_level(logging.INFO):
        run = parity_dag.test(execution_date=as_of, run_conf={"users": 150, "data_quality": False})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == DagRunState.FAILED
    assert states == {
        "build_offline": TaskInstanceState.SUCCESS,
        "run_parity": TaskInstanceState.FAILED,
        "check_data_quality": TaskInstanceState.SUCCESS,
    }
    assert run.get_task_instance("run_parity").try_number == 1
    log = caplog.text
    assert "PARITY FAILED at as_of" in log
    assert "unexplained mismatches (threshold 0)" in log
    assert "watch_time_last_24h" in log and "unexplained /" in log
    assert "feature registry" in log  # the broken store runs another registry
    folder = tmp_path / "reports" / "parity" / run.data_interval_start.strftime("%Y-%m-%d")
    report = json.loads((folder / "report.json").read_text())
    assert report["status"] == "fail" and report["totals"]["unexplained"] > 0
