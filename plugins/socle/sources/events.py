"""Event platform (JSON:API): events and RSVPs updated in an interval.

``GET /api/v1/events|rsvps?updated_since=<start>&page[size]=100`` with a bearer token,
following ``links.next`` (docs/contracts.md §2). Records updated at or after the interval
end belong to the next interval, so a rerun of an interval lands the same rows.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from socle.http import HttpClient, SourceError, make_session
from socle.landing import Batch
from socle.sources.common import EntitySpec, IngestResult, Settings, base_url, in_window, land, paginate

log = logging.getLogger(__name__)

SOURCE = "events"
PAGE_SIZE = 100

EVENTS = EntitySpec(
    SOURCE,
    "events",
    columns=(
        "id",
        "title",
        "kind",
        "starts_at",
        "ends_at",
        "address",
        "postal_code",
        "city",
        "bureau_code",
        "iris_code",
        "updated_at",
    ),
    required=("id", "kind", "starts_at", "updated_at"),
    key=("id",),
    timestamps=("starts_at", "ends_at", "updated_at"),
    enums={"kind": frozenset({"public_meeting", "rally", "door_to_door", "leafleting", "phone_bank"})},
)
RSVPS = EntitySpec(
    SOURCE,
    "rsvps",
    columns=(
        "id",
        "event_id",
        "email",
        "phone",
        "first_name",
        "last_name",
        "status",
        "attended",
        "checked_in_at",
        "volunteer",
        "role",
        "updated_at",
    ),
    required=("id", "event_id", "status", "updated_at"),
    key=("id",),
    emails=("email",),
    phones=("phone",),
    timestamps=("checked_in_at", "updated_at"),
    booleans=("attended", "volunteer"),
    enums={"status": frozenset({"going", "canceled"})},
)


def client_for(settings: Settings, **options: Any) -> HttpClient:
    if not settings.password:
        raise SourceError("the socle_events connection has no API token (password)")
    return make_session(
        base_url(settings.host),
        headers={"Authorization": f"Bearer {settings.password}", "Accept": "application/vnd.api+json"},
        **options,
    )


def _next_link(page: dict[str, Any]) -> str | None:
    links = page.get("links")
    return links.get("next") if isinstance(links, dict) else None


def flatten(resource: dict[str, Any]) -> dict[str, Any]:
    """A JSON:API resource as one flat record: id, attributes, ``<relation>_id``."""
    record: dict[str, Any] = {"id": resource.get("id")}
    attributes = resource.get("attributes")
    record.update(attributes if isinstance(attributes, dict) else {})
    relationships = resource.get("relationships")
    for name, relation in (relationships if isinstance(relationships, dict) else {}).items():
        data = relation.get("data") if isinstance(relation, dict) else None
        if isinstance(data, dict):
            record[f"{name}_id"] = data.get("id")
    return record


def ingest(
    settings: Settings,
    start: datetime,
    end: datetime,
    *,
    landing_root: Path | None = None,
    max_reject_ratio: float = 0.05,
    client: HttpClient | None = None,
) -> IngestResult:
    """Land ``events/events`` and ``events/rsvps`` updated in [start, end)."""
    result = IngestResult(SOURCE)
    batch = Batch(SOURCE, start, end, source_uri=f"{settings.host}/api/v1")
    http = client or client_for(settings)
    params = {"updated_since": start.isoformat(), "page[size]": PAGE_SIZE}
    try:
        for spec in (EVENTS, RSVPS):
            records = [
                flatten(item)
                for page in paginate(http, f"/api/v1/{spec.entity}", params, _next_link)
                for item in page.get("data") or []
                if isinstance(item, dict)
            ]
            records = [r for r in records if in_window(r.get("updated_at"), start, end)]
            land(batch, spec, records, root=landing_root, max_reject_ratio=max_reject_ratio, result=result)
    finally:
        if client is None:
            http.close()
    result.details["requests"] = http.requests_sent
    log.info("events: landed %s, rejected %s", result.landed, result.rejected)
    return result
