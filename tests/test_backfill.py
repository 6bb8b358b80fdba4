"""A backfill of hourly social intervals through Airflow lands each row once, however often it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta

import duckdb
import pytest

from socle.config import DAGS_DIR
from socle.sandbox.generator import generate
from socle.sandbox.server import SandboxServer

pytestmark = pytest.mark.e2e

RUN_INTERVALS = """
import json, sys
from datetime import datetime
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).dags["ingest_social"]
states = [str(dag.test(logical_date=datetime.fromisoformat(d)).state) for d in json.loads(sys.argv[2])]
print("STATES " + json.dumps(states))
"""


def _landed(home, entity: str) -> tuple[int, int]:
    """(rows, distinct ids) landed for a Facebook entity."""
    glob = str(home / "landing" / "facebook" / entity / "*" / "*.parquet")
    with duckdb.connect() as con:
        return con.execute(
            f"select count(*), count(distinct id) from read_parquet('{glob}', union_by_name=true)"
        ).fetchone()


def test_backfilling_three_hours_twice_lands_no_duplicates(airflow_db, tmp_path):
    home = tmp_path / "data"
    generate(home, people=250, seed=5)
    posts = json.loads((home / "sandbox" / "api" / "facebook.json").read_text())["posts"]
    first = min(datetime.strptime(p["created_time"], "%Y-%m-%dT%H:%M:%S%z") for p in posts)
    # Logical dates of an hourly CronDataIntervalTimetable are interval ends: the three hours
    # that start with the campaign's first post.
    hours = [(first.replace(minute=0, second=0) + timedelta(hours=h + 1)).isoformat() for h in range(3)]
    with SandboxServer(home) as sandbox:
        env = {**os.environ, "SOCLE_HOME": str(home)}
        env.update({f"AIRFLOW_CONN_{c.upper()}": uri for c, uri in sandbox.connection_uris().items()})
        runs = []
        for _ in range(2):
            result = subprocess.run(
                [sys.executable, "-c", RUN_INTERVALS, str(DAGS_DIR), json.dumps(hours)],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            line = [x for x in result.stdout.splitlines() if x.startswith("STATES ")]
            assert line, result.stdout[-3000:] + result.stderr[-3000:]
            assert all(s.endswith("success") for s in json.loads(line[0][7:])), line
            runs.append({entity: _landed(home, entity) for entity in ("posts", "comments")})
    posts_rows, posts_ids = runs[0]["posts"]
    assert posts_rows >= 1
    assert posts_rows == posts_ids  # no post landed twice across the three intervals
    assert runs[1] == runs[0]  # the second backfill replaced exactly the same partitions
