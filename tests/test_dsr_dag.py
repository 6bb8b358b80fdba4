"""The ``gdpr_requests`` DAG: its shape, and a real run through Airflow (``dag.test``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from socle.config import DAGS_DIR, Paths

RUN_DAG = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
run = DagBag(dag_folder=sys.argv[1]).dags["gdpr_requests"].test()
states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
print("STATES " + json.dumps({**states, "dag": str(run.state)}))
"""


def test_dag_runs_requests_then_retention_daily_in_the_warehouse_pool():
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import CronDataIntervalTimetable

    from socle.orchestration import WAREHOUSE_POOL

    dag = DagBag(dag_folder=str(DAGS_DIR / "gdpr_requests.py")).dags["gdpr_requests"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.catchup is False
    assert {t.task_id: t.pool for t in dag.tasks} == {
        "apply_requests": WAREHOUSE_POOL,
        "apply_retention": WAREHOUSE_POOL,
    }
    assert dag.get_task("apply_retention").upstream_task_ids == {"apply_requests"}


@pytest.mark.integration
def test_dag_applies_an_erasure_through_airflow_without_logging_personal_data(
    airflow_db, tmp_path, monkeypatch
):
    from test_dsr import ERASED, NEEDLES, NOW, build_inbox, build_landing, build_warehouse, leaks, request

    home = tmp_path / "home"
    monkeypatch.setenv("SOCLE_HOME", str(home))
    build_landing(NOW - timedelta(days=3))
    build_inbox()
    build_warehouse(Paths(home).warehouse)
    request("req-dag-1", "erasure", NOW - timedelta(days=1), email=ERASED["email"])

    result = subprocess.run(  # dag.test() runs the configured bundle: a child process with this home
        [sys.executable, "-c", RUN_DAG, str(DAGS_DIR)],
        env={**os.environ, "SOCLE_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    output = result.stdout + result.stderr
    line = next((x for x in output.splitlines() if x.startswith("STATES ")), None)
    assert line is not None, output[-3000:]
    states = {k: v.rsplit(".", 1)[-1].lower() for k, v in json.loads(line[7:]).items()}
    assert states == {"apply_requests": "success", "apply_retention": "success", "dag": "success"}
    assert leaks(home) == 0
    assert not any(needle.lower() in output.lower() for needle in NEEDLES)
    ledger = json.loads(Path(home / "compliance" / "retention_log.jsonl").read_text().splitlines()[-1])
    assert ledger["action"] == "run"
