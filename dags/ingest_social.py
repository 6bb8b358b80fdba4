"""Social interactions: the page's Facebook posts, comments and reactions, and X mentions,
posts, quotes and retweets, landed hourly for each data interval.

Catch-up is off so a new deployment does not replay months of hours; a backfill
(``airflow backfill create --dag-id ingest_social --from-date ... --to-date ...``) or a
run with ``{"window_start": ISO, "window_end": ISO}`` in its conf re-fetches any window,
and a rerun of an interval replaces its partition.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task

from socle.orchestration import DEFAULT_ARGS, LANDING_ASSETS, connection_settings, task_window


@dag(
    dag_id="ingest_social",
    # A data-interval timetable: in Airflow 3 a bare "@hourly" gives zero-length intervals.
    schedule=CronDataIntervalTimetable("@hourly", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    tags=["socle", "ingest", "social"],
    doc_md=__doc__,
)
def ingest_social():
    @task(outlets=[LANDING_ASSETS["social"]])
    def fetch_facebook() -> dict:
        from socle.sources import facebook

        start, end = task_window(get_current_context())
        return facebook.ingest(connection_settings("socle_facebook"), start, end).summary()

    @task(outlets=[LANDING_ASSETS["social"]])
    def fetch_x() -> dict:
        from socle.sources import x

        start, end = task_window(get_current_context())
        return x.ingest(connection_settings("socle_x"), start, end).summary()

    fetch_facebook()
    fetch_x()


ingest_social()
