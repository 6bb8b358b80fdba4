"""Failure alerts to a Slack-compatible webhook (Airflow connection ``socle_alerts``).

The message names the DAG, task, run and log URL, nothing else: task context can hold
exceptions whose text we do not control, so none of it is forwarded.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

ALERTS_CONN_ID = "socle_alerts"
log = logging.getLogger(__name__)


def failure_message(context: dict[str, Any]) -> dict[str, str]:
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = getattr(ti, "run_id", None) or getattr(context.get("dag_run"), "run_id", "?")
    try_number = getattr(ti, "try_number", "?")
    log_url = getattr(ti, "log_url", "") or ""
    text = (
        f":rotating_light: Socle task failed: *{dag_id}.{task_id}* "
        f"(run `{run_id}`, try {try_number}). Logs: {log_url}"
    )
    return {"text": text}


def _webhook_url() -> str | None:
    from airflow.sdk import BaseHook

    from socle.orchestration import base_url

    try:
        conn = BaseHook.get_connection(ALERTS_CONN_ID)
    except Exception:  # no alert channel configured: not an error for the task
        return None
    return base_url(conn)


def notify_failure(context: dict[str, Any], *, url: str | None = None, timeout: float = 10.0) -> bool:
    """``on_failure_callback``: post the alert; never raise (a failing alert must not mask the failure)."""
    target = url or _webhook_url()
    if not target:
        log.warning("Task failed and no %s connection is configured: no alert sent", ALERTS_CONN_ID)
        return False
    try:
        response = requests.post(target, json=failure_message(context), timeout=timeout)
        response.raise_for_status()
    except requests.RequestException as error:
        log.error("Could not deliver the failure alert: %s", type(error).__name__)
        return False
    return True
