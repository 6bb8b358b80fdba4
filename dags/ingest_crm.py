"""CRM exports (people and the consent ledger) and data-subject requests dropped in
``inbox/crm`` and ``inbox/dsr``, landed daily. Requests land before the daily
``gdpr_requests`` run applies them.
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
    dag_id="ingest_crm",
    # A data-interval timetable: in Airflow 3 a bare "@daily" gives zero-length intervals.
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # runs move files out of the inbox: one at a time
    default_args=DEFAULT_ARGS,
    tags=["socle", "ingest", "crm", "gdpr", "inbox"],
    doc_md=__doc__,
)
def ingest_crm():
    @task(outlets=[LANDING_ASSETS["crm"]])
    def land_crm_exports() -> dict:
        return _land_drops("crm")

    @task(outlets=[LANDING_ASSETS["crm"]])
    def land_subject_requests() -> dict:
        return _land_drops("dsr")

    land_crm_exports()
    land_subject_requests()


ingest_crm()
