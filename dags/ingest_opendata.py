"""Public reference data: election results per bureau de vote, INSEE population per IRIS,
REU addresses. Monthly, with conditional downloads: an unchanged file is skipped.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task

from socle.orchestration import DEFAULT_ARGS, LANDING_ASSETS, connection_settings, task_window


@dag(
    dag_id="ingest_opendata",
    # A data-interval timetable: in Airflow 3 a bare "@monthly" gives zero-length intervals.
    schedule=CronDataIntervalTimetable("@monthly", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["socle", "ingest", "opendata"],
    doc_md=__doc__,
)
def ingest_opendata():
    @task(outlets=[LANDING_ASSETS["opendata"]])
    def download_reference_files() -> dict:
        from socle.sources import opendata

        start, end = task_window(get_current_context())
        return opendata.ingest(connection_settings("socle_opendata"), start, end).summary()

    download_reference_files()


ingest_opendata()
