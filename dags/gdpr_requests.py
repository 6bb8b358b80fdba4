"""Apply data-subject requests and retention limits, daily, before the warehouse build.

``apply_requests`` answers the landed erasure/access/objection/rectification requests
(tombstones, landing and warehouse rewrites, access exports, the request ledger);
``apply_retention`` purges what is past its window from the landing zone. Both rewrite
files the warehouse build reads, so both run in the one-slot ``warehouse`` pool.
Due dates are real dates: requests are applied as of the run's wall-clock time.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import CronDataIntervalTimetable, dag, task

from socle.orchestration import DEFAULT_ARGS, WAREHOUSE_POOL


@dag(
    dag_id="gdpr_requests",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["socle", "gdpr", "compliance"],
    doc_md=__doc__,
)
def gdpr_requests():
    @task(pool=WAREHOUSE_POOL)
    def apply_requests() -> dict:
        from socle.dsr import apply_pending_requests

        return apply_pending_requests().summary()

    @task(pool=WAREHOUSE_POOL)
    def apply_retention() -> dict:
        from socle.retention import apply_retention as apply

        return apply().summary()

    # Erasures first: retention then works on what is left.
    apply_requests() >> apply_retention()


gdpr_requests()
