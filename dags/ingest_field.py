"""Field work: meeting sign-in sheets and canvassing sheets dropped in ``inbox/signin`` and
``inbox/canvass``. Landed files move to ``inbox/.done``; a file with a changed layout or
too many bad rows stays in the inbox and fails its task (the other files still land).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task

from socle.orchestration import DEFAULT_ARGS, LANDING_ASSETS, task_window


def _land_drops(kind: str) -> dict:
    from socle.config import paths
    from socle.sources import inbox_files

    start, end = task_window(get_current_context())
    return inbox_files.ingest(paths().inbox, start, end, kinds=(kind,)).summary()


@dag(
    dag_id="ingest_field",
    # A data-interval timetable: in Airflow 3 a bare "@hourly" gives zero-length intervals.
    schedule=CronDataIntervalTimetable("@hourly", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # runs move files out of the inbox: one at a time
    default_args=DEFAULT_ARGS,
    tags=["socle", "ingest", "field", "inbox"],
    doc_md=__doc__,
)
def ingest_field():
    @task(outlets=[LANDING_ASSETS["field"]])
    def land_signin_sheets() -> dict:
        return _land_drops("signin")

    @task(outlets=[LANDING_ASSETS["field"]])
    def land_canvass_sheets() -> dict:
        return _land_drops("canvass")

    land_signin_sheets()
    land_canvass_sheets()


ingest_field()
