"""The real Airflow scheduler drives ingest → build on its own (no dag.test, no manual trigger)."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from socle.airflow_env import airflow_bin, airflow_environ, ensure_metadata_db
from socle.config import Paths
from socle.sandbox.generator import generate
from socle.sandbox.server import SandboxServer

pytestmark = pytest.mark.e2e

DEADLINE_SECONDS = 600
INGEST_DAG = "ingest_events"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _runs(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as con:
        return con.execute("select dag_id, run_type, state from dag_run").fetchall()


def _succeeded(runs: list[tuple[str, str, str]], dag_id: str, run_type: str) -> bool:
    return (dag_id, run_type, "success") in runs


def _paused(db: Path, dag_ids: set[str]) -> set[str]:
    """DAGs still paused, counting those the DAG processor has not parsed yet."""
    with sqlite3.connect(db) as con:
        unpaused = {row[0] for row in con.execute("select dag_id from dag where not is_paused")}
    return dag_ids - unpaused


def _unpause(env: dict[str, str], dag_id: str) -> None:
    subprocess.run(
        [airflow_bin(), "dags", "unpause", dag_id], env=env, capture_output=True, timeout=120, check=False
    )


def test_scheduler_runs_an_ingest_dag_on_its_schedule_and_the_build_on_its_assets(tmp_path):
    home = tmp_path / "data"
    generate(home, people=250, seed=11)
    paths = Paths(home)
    env = airflow_environ(paths, base={k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")})
    port = _free_port()
    env.update(
        {
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        }
    )
    ensure_metadata_db(paths, env)
    log = (tmp_path / "standalone.log").open("w")
    with SandboxServer(home) as sandbox:
        for conn_id, uri in sandbox.connection_uris().items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = uri
        process = subprocess.Popen(
            [airflow_bin(), "standalone"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            # Only the hourly event ingest and the build run, so one Asset event drives one build.
            # Airflow queues an asset event only for consumers unpaused when it lands, so the
            # build is unpaused first and the ingest only once the build is seen unpaused.
            unpause_order = ("build_warehouse", INGEST_DAG)
            wanted = set(unpause_order)
            db = paths.airflow_home / "airflow.db"
            runs: list[tuple[str, str, str]] = []
            deadline = time.monotonic() + DEADLINE_SECONDS
            while time.monotonic() < deadline:
                time.sleep(5)
                assert process.poll() is None, "airflow standalone exited early; see standalone.log"
                paused = _paused(db, wanted)
                next_to_unpause = next((dag_id for dag_id in unpause_order if dag_id in paused), None)
                if next_to_unpause:
                    _unpause(env, next_to_unpause)
                runs = _runs(db)
                if _succeeded(runs, INGEST_DAG, "scheduled") and _succeeded(
                    runs, "build_warehouse", "asset_triggered"
                ):
                    break
            assert _succeeded(runs, INGEST_DAG, "scheduled"), runs
            assert _succeeded(runs, "build_warehouse", "asset_triggered"), runs
            assert paths.warehouse.exists()
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            log.close()
