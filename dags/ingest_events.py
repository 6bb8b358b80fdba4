"""Events and RSVPs from the event platform (JSON:API), incremental on ``updated_since``.

Each hourly run lands what was updated in its data interval; a rerun replaces it.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task

from socle.orchestration import DEFAULT_ARGS, LANDING_ASSETS, connection_settings, task_window


@dag(
    dag_id="ingest_events",
    # A data-interval timetable: in Airflow 3 a bare "@hourly" gives zero-length intervals.
    schedule=CronDataIntervalTimetable("@hourly", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=2,
    default_args=DEFAULT_ARGS,
    tags=["socle", "ingest", "events"],
    doc_md=__doc__,
)
def ingest_events():
    @task(outlets=[LANDING_ASSETS["events"]])
    def fetch_events_and_rsvps() -> dict:
        from socle.sources import events

        start, end = task_window(get_current_context())
        return events.ingest(connection_settings("socle_events"), start, end).summary()

    fetch_events_and_rsvps()


ingest_events()
