"""Alert when a source goes silent: no new rows from a source family for longer than its threshold.

Fails (and so alerts through ``socle_alerts``) with the families and hours, never data.
Runs only while the campaign is on: after ``SOCLE_CAMPAIGN_END`` silence is expected.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task

from socle.orchestration import DEFAULT_ARGS


@dag(
    dag_id="watch_sources",
    schedule=CronDataIntervalTimetable("@hourly", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 1},
    tags=["socle", "monitoring"],
    doc_md=__doc__,
)
def watch_sources():
    @task
    def check_sources_are_landing() -> list[str]:
        from airflow.sdk.exceptions import AirflowFailException

        from socle.config import paths
        from socle.freshness import silent_sources
        from socle.retention import retention_windows

        now = get_current_context()["data_interval_end"]
        if retention_windows(now.date()).campaign_over(now):
            return []
        silences = silent_sources(paths().landing, now)
        if silences:
            raise AirflowFailException("Sources gone silent: " + "; ".join(map(str, silences)))
        return []

    check_sources_are_landing()


watch_sources()
