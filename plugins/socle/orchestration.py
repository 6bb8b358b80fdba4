"""Airflow glue shared by every DAG: defaults, Assets, windows and connections.

DAG files import from here and stay declarative; the work itself lives in modules that
know nothing of Airflow (``socle.sources``, ``socle.warehouse``, ``socle.gates``...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.sdk import Asset

from socle.alerts import notify_failure

OWNER = "socle-data"
WAREHOUSE_POOL = "warehouse"

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=30),
    "on_failure_callback": notify_failure,
}

# One Asset per source family's landing area; the build DAG is scheduled on them.
LANDING_ASSETS: dict[str, Asset] = {
    family: Asset(name=f"landing_{family}", uri=f"file:///socle/landing/{family}")
    for family in ("social", "events", "field", "crm", "opendata")
}
WAREHOUSE_ASSET = Asset(name="warehouse", uri="file:///socle/warehouse.duckdb")


@dataclass(frozen=True)
class ConnectionSettings:
    """What a connector needs from an Airflow connection, without Airflow."""

    conn_id: str
    host: str
    password: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never print the token
        return f"ConnectionSettings(conn_id={self.conn_id!r}, host={self.host!r})"


def connection_settings(conn_id: str) -> ConnectionSettings:
    """Resolve a connection through Airflow (env ``AIRFLOW_CONN_*``, secrets backend or DB)."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson if conn.extra else {}
    return ConnectionSettings(conn_id=conn_id, host=base_url(conn), password=conn.password, extra=extra)


def base_url(conn: Any) -> str:
    """The URL a connection points at, however it was written.

    JSON connections usually carry the whole URL in ``host``; URI connections
    (``http://host:port/path``) split it into type, host, port and schema (the path).
    """
    host = (conn.host or "").rstrip("/")
    if "://" not in host:
        scheme = conn.conn_type if conn.conn_type in ("http", "https") else "http"
        host = f"{scheme}://{host}"
        if conn.port:
            host = f"{host}:{conn.port}"
        if conn.schema:
            host = f"{host}/{conn.schema.strip('/')}"
    elif conn.port and not host.split("://", 1)[1].split("/", 1)[0].count(":"):
        host = f"{host}:{conn.port}"
    return host


def task_window(context: dict[str, Any]) -> tuple[datetime, datetime]:
    """The interval a task works on: its data interval, or a window given in the run conf.

    A run triggered with ``{"window_start": ISO, "window_end": ISO}`` fetches that window
    instead (first load of a campaign, or a manual re-fetch); both ends are inclusive of
    start and exclusive of end, as data intervals are.
    """
    conf = (context.get("dag_run") and context["dag_run"].conf) or {}
    if conf.get("window_start") and conf.get("window_end"):
        return _aware(conf["window_start"]), _aware(conf["window_end"])
    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    if start is None or end is None:  # manual run without an interval: the day so far
        end = datetime.now(UTC)
        start = end - timedelta(days=1)
    return start, end


def _aware(value: str | datetime) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def as_of_date(context: dict[str, Any]) -> date:
    """The date scores are computed for: ``as_of`` from the run conf, else the run's date.

    Fixing it per run (never "now" inside a model) makes a rerun produce the same marts.
    """
    conf = (context.get("dag_run") and context["dag_run"].conf) or {}
    if conf.get("as_of"):
        return date.fromisoformat(conf["as_of"])
    moment = context.get("logical_date") or context.get("data_interval_end") or datetime.now(UTC)
    return moment.date()
