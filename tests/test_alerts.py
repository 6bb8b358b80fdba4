"""Failure alerts reach the webhook with the context an operator needs and nothing personal."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from socle.alerts import failure_message, notify_failure


def test_alert_names_dag_task_run_and_log_url(webhook_server):
    url, received = webhook_server
    ti = SimpleNamespace(
        dag_id="ingest_social",
        task_id="fetch_facebook",
        run_id="scheduled__2026-11-01",
        try_number=2,
        log_url="http://airflow.local/log",
    )
    assert notify_failure({"task_instance": ti, "exception": ValueError("jean@example.org")}, url=url)
    text = received[0]["text"]
    for expected in ("ingest_social", "fetch_facebook", "scheduled__2026-11-01", "http://airflow.local/log"):
        assert expected in text
    assert "@" not in text  # the exception text (which may carry personal data) is never forwarded


def test_an_unreachable_webhook_does_not_raise():
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r", try_number=1, log_url="")
    assert notify_failure({"ti": ti}, url="http://127.0.0.1:9/unreachable", timeout=1) is False


def test_message_is_slack_compatible():
    message = failure_message({"ti": SimpleNamespace(dag_id="d", task_id="t", run_id="r", try_number=1)})
    assert set(message) == {"text"}


@pytest.mark.integration
def test_a_failing_task_in_a_real_dag_run_alerts_the_webhook(airflow_db, webhook_server, tmp_path):
    url, received = webhook_server
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "failing_dag.py").write_text(
        textwrap.dedent(
            """
            from datetime import datetime
            from airflow.sdk import dag, task
            from socle.orchestration import DEFAULT_ARGS

            @dag(schedule=None, start_date=datetime(2026, 1, 1), tags=["test"],
                 default_args={**DEFAULT_ARGS, "retries": 0})
            def always_fails():
                @task
                def explode():
                    raise RuntimeError("boom")
                explode()

            always_fails()
            """
        )
    )
    script = (
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"run = DagBag(dag_folder={str(dags)!r}).dags['always_fails'].test()\n"
        "print('STATE', run.state)\n"
    )
    # dag.test() runs DAGs of the configured bundle: a child process with its own DAGs folder.
    env = {**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "AIRFLOW_CONN_SOCLE_ALERTS": url}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert "STATE failed" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    assert len(received) == 1, result.stdout[-6000:]
    assert "always_fails.explode" in received[0]["text"]
