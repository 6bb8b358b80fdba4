"""The ingest DAGs, run for real through Airflow (``dag.test``) against loopback sources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from fixtures.sources.loopback import Loopback, Reply

from socle.config import DAGS_DIR

INGEST_DAGS = {
    "ingest_social": ("@hourly", {"fetch_facebook", "fetch_x"}),
    "ingest_events": ("@hourly", {"fetch_events_and_rsvps"}),
    "ingest_field": ("@hourly", {"land_signin_sheets", "land_canvass_sheets"}),
    "ingest_crm": ("@daily", {"land_crm_exports", "land_subject_requests"}),
    "ingest_opendata": ("@monthly", {"download_reference_files"}),
}
FAMILY = {
    "ingest_social": "social",
    "ingest_events": "events",
    "ingest_field": "field",
    "ingest_crm": "crm",
    "ingest_opendata": "opendata",
}


def test_ingest_dags_declare_schedule_tasks_and_landing_asset():
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.definitions.timetables._cron import CRON_PRESETS

    from socle.orchestration import LANDING_ASSETS

    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert not {f for f in bag.import_errors if Path(f).name.startswith("ingest_")}
    for dag_id, (schedule, tasks) in INGEST_DAGS.items():
        dag = bag.dags[dag_id]
        assert {t.task_id for t in dag.tasks} == tasks
        assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"  # real intervals, not instants
        assert dag.timetable.expression == CRON_PRESETS[schedule]
        assert dag.catchup is False
        asset = LANDING_ASSETS[FAMILY[dag_id]]
        assert all(any(o.uri == asset.uri for o in t.outlets) for t in dag.tasks)


RUN_DAGS = """
import json, sys
from datetime import datetime
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
states = []
for spec in json.loads(sys.argv[2]):
    when = datetime.fromisoformat(spec["logical_date"]) if spec.get("logical_date") else None
    run = bag.dags[spec["dag_id"]].test(run_conf=spec.get("conf"), logical_date=when)
    states.append(str(run.state))
print("STATES " + json.dumps(states))
"""


@pytest.mark.e2e
def test_social_and_field_dags_land_through_airflow_with_env_connections(airflow_db, tmp_path):
    home = tmp_path / "home"
    sheet = home / "inbox" / "signin" / "reunion.csv"
    sheet.parent.mkdir(parents=True)
    sheet.write_text("Date;Courriel\n01/03/2026 19h30;a@example.fr\n")
    post = {"id": "42_1", "message": "hello", "created_time": "2026-03-05T09:30:00+0000"}
    with Loopback() as server:
        server.route("/v21.0/42/feed", Reply(200, {"data": [post], "paging": {}}))
        server.route("/v21.0/42_1/comments", Reply(200, {"data": []}))
        server.route(
            "/v21.0/42_1/reactions", Reply(200, {"data": [{"id": "u1", "name": "U", "type": "LOVE"}]})
        )
        empty = Reply(200, {"meta": {"result_count": 0}})
        server.route("/2/users/7/tweets", empty)
        server.route("/2/users/7/mentions", empty)
        env = {
            **os.environ,
            "SOCLE_HOME": str(home),
            "AIRFLOW_CONN_SOCLE_FACEBOOK": json.dumps(
                {"conn_type": "http", "host": server.url, "password": "tok", "extra": {"page_id": "42"}}
            ),
            "AIRFLOW_CONN_SOCLE_X": json.dumps(
                {"conn_type": "http", "host": server.url, "password": "tok", "extra": {"user_id": "7"}}
            ),
        }
        conf = {"window_start": "2026-03-01T00:00:00+00:00", "window_end": "2026-03-02T00:00:00+00:00"}
        runs = [
            {"dag_id": "ingest_field", "conf": conf},  # a window given in the run conf
            # No window in the conf: a scheduled or backfilled run works on its data interval.
            {"dag_id": "ingest_social", "logical_date": "2026-03-05T10:00:00+00:00"},
        ]
        result = subprocess.run(
            [sys.executable, "-c", RUN_DAGS, str(DAGS_DIR), json.dumps(runs)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        hourly = server.hits("/v21.0/42/feed")[-1].query
    output = result.stdout + result.stderr
    states = json.loads(next(line for line in output.splitlines() if line.startswith("STATES "))[7:])
    assert states == ["success"] * 2, output[-4000:]
    # A run at 10:00 works on the hour that just ended, [09:00, 10:00).
    nine, ten = datetime(2026, 3, 5, 9, tzinfo=UTC), datetime(2026, 3, 5, 10, tzinfo=UTC)
    assert int(hourly["until"]) == int(ten.timestamp())
    assert int(hourly["since"]) == int((nine - timedelta(days=7)).timestamp())  # start - look-back
    landing = home / "landing"
    reactions = [str(f) for f in landing.glob("facebook/reactions/dt=2026-03-05/*.parquet")]
    assert duckdb.sql(f"select type from read_parquet({reactions})").fetchall() == [("LOVE",)]
    assert list(landing.glob("signin/attendance/dt=2026-03-01/part-reunion.csv.parquet"))
    assert (home / "inbox" / ".done" / "signin" / "reunion.csv").exists()
    assert "a@example.fr" not in output  # no personal data in task logs
    assert "tok" not in output.replace("token", "")
